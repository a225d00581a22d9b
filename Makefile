# The two commands a newcomer needs, plus the benchmark. See README.md.
.PHONY: dev test bench fmt lint audit

dev:
	scripts/dev.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

fmt:
	cargo fmt --all

# fmt, clippy -D warnings, hadolint on both Dockerfiles.
lint:
	scripts/lint.sh

# cargo-deny (advisories, licenses, bans, sources; deny.toml), offline, against the snapshot
# of the RustSec database in ../shared/advisory-db (DJINN_ADVISORY_DB to point elsewhere).
audit:
	scripts/audit.sh
