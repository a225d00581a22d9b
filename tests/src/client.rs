//! The GraphQL client the tests talk through (`djinn-client`, shared with the benchmark), and
//! reading back the global ids it is given.

pub use djinn_client::{
    CREATE_TRANSFER, Client, NewAccount, NewTransfer, OPEN_ACCOUNT, PROJECT_ID, SETTLE_TIMEOUT,
    token_for, unsigned_token,
};
use djinn_domain::AccountId;

/// The account behind a global id the API gave out.
pub fn account_id(global_id: &str) -> AccountId {
    AccountId::from_uuid(
        djinn_graphql::schema::ids::decode(global_id)
            .expect("an account id")
            .1,
    )
}
