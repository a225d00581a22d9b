# syntax=docker/dockerfile:1
# The api image: `djinn api`, listening on 0.0.0.0:$PORT. Built from the repository's root:
#   docker build -f api.Dockerfile -t djinn-api .
# Dependencies are compiled in a layer of their own (cargo-chef), rebuilt only when
# Cargo.toml/Cargo.lock change; no database is needed to build (no compile-time-checked SQL).
# The final image holds the djinn binary (which embeds the migrations), CA certificates and
# glibc: no shell, no package manager, no secret. Settings come from the environment at run
# time (README, "Production settings"). worker.Dockerfile is this file with another command.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install --locked cargo-chef --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin djinn --recipe-path recipe.json
COPY . .
# The commit for build_info{commit} (the build context has no .git):
#   docker build --build-arg DJINN_COMMIT=$(git rev-parse --short=12 HEAD) ...
ARG DJINN_COMMIT=dev
RUN DJINN_COMMIT="${DJINN_COMMIT}" cargo build --release --locked --bin djinn \
 && install -D --mode=0555 target/release/djinn /out/djinn

# distroless/cc: glibc, libgcc, CA certificates, tzdata and /etc/passwd entries; nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/djinn /usr/local/bin/djinn
# 65532 is distroless's "nonroot": a fixed numeric user, so a platform can check it is not root.
USER 65532:65532
ENV DJINN_ENV=production \
    DJINN_LOG_FORMAT=json \
    PORT=8080
EXPOSE 8080
# The binary is its own probe: GET http://127.0.0.1:$PORT/healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/djinn", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/djinn"]
CMD ["api"]
