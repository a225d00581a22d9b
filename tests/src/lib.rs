//! The test harness: `spawn_app()` gives each test a fresh database, its own task queue, the
//! real API on a random port with its own worker (it runs the workflows it starts, as deployed)
//! and a real `djinn worker` beside it, each on a thread of its own (the SDK's worker is not
//! Send), all against the Temporal dev server and PostgreSQL that `make test` starts;
//! `spawn_api()` gives the API without any worker, for tests that start and kill workers
//! themselves. Tests then talk GraphQL over HTTP as a client would (`djinn-client`).
//!
//! - `app`: the stack in-process (`spawn_app`, `TestApp`), wired as `djinn api` wires itself;
//! - `client`: the GraphQL client and its builders, and reading the ids it is given;
//! - `ledger`: reading the ledger back and putting it in the states tests need;
//! - `ledger_steps`: driving the ledger's write steps directly, for the ledger's own tests;
//! - `processes`: `djinn api` and `djinn worker` as real processes, to crash them;
//! - `replay`: replaying a run's history against today's workflow code.

mod app;
mod client;
mod ledger;
pub mod ledger_steps;
mod processes;
mod replay;
pub mod soak;

pub use app::{
    TestApp, WorkerThread, empty_database, fresh_database, spawn_api, spawn_api_running_workflows,
    spawn_app, spawn_app_with,
};
pub use client::{
    CREATE_TRANSFER, Client, NewAccount, NewTransfer, OPEN_ACCOUNT, PROJECT_ID, SETTLE_TIMEOUT,
    account_id, settled_transfer_with_header, token_for, transfer_replay_and_refusal,
    transfer_with_header, unsigned_token,
};
pub use processes::djinn_binary;
pub use replay::replay_transfer;

use djinn_temporal::codec::EncryptionCodec;

/// The payload key of every test stack (tests only): histories are encrypted in tests as in
/// production, so the tests see what production sees. The recorded histories under
/// `tests/histories/` are encrypted with it too: a new key needs them re-recorded (or this one
/// kept beside it, as production keeps retired keys).
pub const TEST_CODEC_KEYS: &str = "test:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub fn test_codec() -> EncryptionCodec {
    EncryptionCodec::from_keys(&TEST_CODEC_KEYS.to_owned().into()).expect("the test key is valid")
}

/// The admin URL of the PostgreSQL server tests create their databases in.
pub fn admin_database_url() -> String {
    std::env::var("DJINN_TEST_DATABASE_URL")
        .expect("DJINN_TEST_DATABASE_URL is set by `make test` (scripts/test.sh)")
}

/// The URL (without a database) of the PgBouncer in transaction mode that `make test` puts in
/// front of that server, as production reaches managed PostgreSQL through a pooler. The api
/// and the workers of every test stack connect through it.
pub fn pooler_url() -> String {
    std::env::var("DJINN_TEST_POOLER_URL")
        .expect("DJINN_TEST_POOLER_URL is set by `make test` (scripts/test.sh)")
}
