# The two commands a newcomer needs, plus the benchmark. See README.md.
.PHONY: dev test bench fmt lint sqlx-prepare

dev:
	scripts/dev.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	SQLX_OFFLINE=true cargo clippy --workspace --all-targets -- -D warnings
