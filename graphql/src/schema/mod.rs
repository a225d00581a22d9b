//! The GraphQL schema: the core contract of the product's design. The committed SDL
//! (`graphql/schema.graphql`) is checked against [`sdl`] by a test, so a change here that
//! alters the contract is a visible diff.

mod account;
mod decisions;
mod entry;
pub mod ids;
pub(crate) mod loaders;
pub(crate) mod money;
mod mutation;
mod operation;
mod query;
mod recurring;
mod statements;
mod subscription;
mod transfer;
mod user;
pub(crate) mod user_error;

pub use account::{
    Account, AccountKind, OpenAccountInput, OpenAccountPayload, SetOverdraftLimitInput,
    SetOverdraftLimitPayload,
};
pub use decisions::{
    ApproveTransferInput, ApproveTransferPayload, CancelTransferInput, CancelTransferPayload,
    ReverseTransferInput, ReverseTransferPayload, SetApprovalThresholdInput,
    SetApprovalThresholdPayload,
};
pub use entry::{EntryStatus, LedgerEntry};
pub use money::{Decimal, Money, MoneyInput};
pub use mutation::MutationRoot;
pub use operation::{Operation, OperationKind};
pub use query::QueryRoot;
pub use recurring::{
    ChangeRecurringTransferInput, CreateRecurringTransferInput, CreateRecurringTransferPayload,
    Date, RecurrenceUnit, RecurringTransfer, RecurringTransferPayload,
};
pub use statements::{
    ImportStatementInput, ImportStatementPayload, ReconcileAccountInput, ReconcileAccountPayload,
    ReconciliationRun, StatementImport,
};
pub use subscription::SubscriptionRoot;
pub use transfer::{CreateTransferInput, CreateTransferPayload, Transfer, TransferStatus};
pub use user::User;
pub use user_error::UserError;

use crate::commands;
use crate::limits::{ALIASES_MAX, AliasLimit, QUERY_COMPLEXITY_MAX, QUERY_DEPTH_MAX};
use crate::server::AppState;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Interface, Object, Result, Schema};
use djinn_domain::{AccountId, OperationId, UserId};
use djinn_store::{PAGE_SIZE_MAX, accounts, operations};
use ids::NodeType;

pub type DjinnSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The authenticated user of the request, put in the request data by the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct CurrentUser(pub UserId);

/// Page size when the client does not ask for one.
pub const PAGE_SIZE_DEFAULT: i32 = 20;

pub fn build(app: AppState, production: bool) -> DjinnSchema {
    let metrics = crate::request_metrics::RequestMetrics(app.metrics.clone());
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(app)
        .extension(metrics)
        .limit_depth(QUERY_DEPTH_MAX)
        .limit_complexity(QUERY_COMPLEXITY_MAX)
        .extension(AliasLimit(ALIASES_MAX));
    if production {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    } else {
        builder.finish()
    }
}

/// The SDL of the schema, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl()
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> Result<(&'a AppState, UserId)> {
    let app = ctx.data::<AppState>()?;
    let user = ctx.data::<CurrentUser>()?;
    Ok((app, user.0))
}

/// A server fault: logged here, once, and shown to the client without internals.
pub(crate) fn internal(error: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(%error, "request failed");
    async_graphql::Error::new("internal error")
}

/// Relay's Node: anything with a global id can be fetched by it.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    User(User),
    Account(Account),
    Transfer(Transfer),
    Operation(Operation),
    LedgerEntry(LedgerEntry),
    RecurringTransfer(RecurringTransfer),
    StatementImport(StatementImport),
    ReconciliationRun(ReconciliationRun),
}

/// The page size `first` (or `last`, named by `argument`) asks for, capped at the largest page.
fn page_size_of(size: Option<i32>, argument: &str) -> Result<i64> {
    match size {
        None => Ok(i64::from(PAGE_SIZE_DEFAULT)),
        Some(n) if n < 0 => Err(async_graphql::Error::new(format!(
            "`{argument}` must not be negative"
        ))),
        Some(n) => Ok(i64::from(n).min(PAGE_SIZE_MAX)),
    }
}

fn page_size(first: Option<i32>) -> Result<i64> {
    page_size_of(first, "first")
}

/// A Relay page from rows fetched with `limit + 1`: the extra row only says a next page exists.
fn page<Row, Node: async_graphql::OutputType>(
    mut rows: Vec<Row>,
    limit: i64,
    has_previous: bool,
    id: impl Fn(&Row) -> uuid::Uuid,
    node: impl Fn(Row) -> Node,
) -> Connection<String, Node> {
    let has_next = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(ids::encode_cursor(id(&row)), node(row))),
    );
    connection
}

/// A page costs its items' fields once per item it may return.
pub(crate) fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first
        .unwrap_or(PAGE_SIZE_DEFAULT)
        .clamp(0, PAGE_SIZE_MAX as i32);
    usize::try_from(items)
        .unwrap_or(0)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

fn cursor(after: Option<String>) -> Result<Option<uuid::Uuid>> {
    after
        .map(|cursor| {
            ids::decode_cursor(&cursor).ok_or_else(|| async_graphql::Error::new("invalid cursor"))
        })
        .transpose()
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod contract_tests;

#[cfg(test)]
mod tests {
    /// The committed SDL is the contract: regenerate it with `cargo run -p djinn -- schema >
    /// graphql/schema.graphql` when a change is intended, and review the diff.
    #[test]
    fn committed_sdl_matches_the_code() {
        let committed = include_str!("../../schema.graphql");
        assert!(
            committed == super::sdl(),
            "graphql/schema.graphql drifted from the code; regenerate it and review the diff"
        );
    }
}
