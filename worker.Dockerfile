# syntax=docker/dockerfile:1
# The worker image: `djinn worker`, polling Temporal and writing the ledger. The same build as
# api.Dockerfile (which says why each stage is there); it serves no traffic, so it exposes
# only its probe listener (DJINN_METRICS_ADDR: /healthz, /readyz).
#   docker build -f worker.Dockerfile -t djinn-worker .

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

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/djinn /usr/local/bin/djinn
USER 65532:65532
ENV DJINN_ENV=production \
    DJINN_LOG_FORMAT=json \
    DJINN_METRICS_ADDR=0.0.0.0:9090
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/djinn", "healthcheck", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/usr/local/bin/djinn"]
CMD ["worker"]
