# The two commands a newcomer needs, plus the benchmark. See README.md.
.PHONY: dev test bench soak fmt lint audit

dev:
	scripts/dev.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

# The fault soak: 2,000 operations while the api and the worker are killed 10 times and
# Temporal and PostgreSQL restart (tests/src/soak). Minutes; `make test` runs a short one.
soak:
	scripts/test.sh -p djinn-tests --test soak -- --ignored --nocapture the_soak

fmt:
	cargo fmt --all

# fmt, clippy -D warnings, hadolint on both Dockerfiles.
lint:
	scripts/lint.sh

# cargo-deny (advisories, licenses, bans, sources; deny.toml), offline, against the snapshot
# of the RustSec database in ../shared/advisory-db (DJINN_ADVISORY_DB to point elsewhere).
audit:
	scripts/audit.sh
