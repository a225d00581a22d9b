//! The GraphQL schema: the core contract of the product's design. The committed SDL
//! (`graphql/schema.graphql`) is checked against [`sdl`] by a test, so a change here that
//! alters the contract is a visible diff.

mod account;
mod decisions;
mod entry;
pub mod ids;
pub(crate) mod loaders;
pub(crate) mod money;
mod operation;
mod recurring;
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
pub use operation::{Operation, OperationKind};
pub use recurring::{
    CreateRecurringTransferInput, CreateRecurringTransferPayload, Date, RecurrenceUnit,
    RecurringTransfer,
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

#[derive(Debug)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let (_, user) = state(ctx)?;
        Ok(User(user))
    }

    /// Any object by its global id. Another user's id reads as unknown: null.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let (app, user) = state(ctx)?;
        let Some((node_type, uuid)) = ids::decode(&id) else {
            return Ok(None);
        };
        Ok(match node_type {
            NodeType::User => (uuid == user.as_uuid()).then_some(Node::User(User(user))),
            NodeType::Account => accounts::get(&app.pool, user, AccountId::from_uuid(uuid))
                .await
                .map_err(internal)?
                .map(|a| Node::Account(Account(a))),
            NodeType::Transfer => {
                operations::get_transfer(&app.pool, user, OperationId::from_uuid(uuid))
                    .await
                    .map_err(internal)?
                    .map(|t| Node::Transfer(Transfer(t)))
            }
            NodeType::Operation => operations::get(&app.pool, user, OperationId::from_uuid(uuid))
                .await
                .map_err(internal)?
                .map(|o| Node::Operation(Operation(o))),
            NodeType::LedgerEntry => djinn_store::entries::get(&app.pool, user, uuid)
                .await
                .map_err(internal)?
                .map(|e| Node::LedgerEntry(LedgerEntry(e))),
            NodeType::RecurringTransfer => {
                let id = djinn_domain::RecurringTransferId::from_uuid(uuid);
                djinn_store::recurring::get(&app.pool, user, id)
                    .await
                    .map_err(internal)?
                    .map(|(rule, runs)| Node::RecurringTransfer(RecurringTransfer(rule, runs)))
            }
        })
    }

    /// The user's accounts, oldest first. `first` is capped at 100.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Account>> {
        let (app, user) = state(ctx)?;
        let limit = page_size(first)?;
        let after = cursor(after)?.map(AccountId::from_uuid);
        let rows = accounts::list(&app.pool, user, after, limit + 1)
            .await
            .map_err(internal)?;
        Ok(page(
            rows,
            limit,
            after.is_some(),
            |row| row.id.as_uuid(),
            Account,
        ))
    }

    async fn account(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Account>> {
        let (app, user) = state(ctx)?;
        let Some(uuid) = ids::decode_as(&id, NodeType::Account) else {
            return Ok(None);
        };
        Ok(accounts::get(&app.pool, user, AccountId::from_uuid(uuid))
            .await
            .map_err(internal)?
            .map(Account))
    }

    async fn transfer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Transfer>> {
        let (app, user) = state(ctx)?;
        let Some(uuid) = ids::decode_as(&id, NodeType::Transfer) else {
            return Ok(None);
        };
        Ok(
            operations::get_transfer(&app.pool, user, OperationId::from_uuid(uuid))
                .await
                .map_err(internal)?
                .map(Transfer),
        )
    }

    /// The user's operations, newest first. `first` is capped at 100.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn operations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<OperationKind>,
    ) -> Result<Connection<String, Operation>> {
        let (app, user) = state(ctx)?;
        let limit = page_size(first)?;
        let after = cursor(after)?.map(OperationId::from_uuid);
        let rows = operations::list(&app.pool, user, kind.map(Into::into), after, limit + 1)
            .await
            .map_err(internal)?;
        Ok(page(
            rows,
            limit,
            after.is_some(),
            |row| row.id.as_uuid(),
            Operation,
        ))
    }
}

#[derive(Debug)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Opens an account, posting the opening balance (if any) against the user's equity account.
    async fn open_account(
        &self,
        ctx: &Context<'_>,
        input: OpenAccountInput,
    ) -> Result<OpenAccountPayload> {
        let (app, user) = state(ctx)?;
        commands::open_account(app, user, input).await
    }

    /// Sets how far below zero an account may go (null or zero: not at all). Refused with
    /// OVERDRAFT_IN_USE when the account already uses more of its overdraft than that.
    async fn set_overdraft_limit(
        &self,
        ctx: &Context<'_>,
        input: SetOverdraftLimitInput,
    ) -> Result<SetOverdraftLimitPayload> {
        let (app, user) = state(ctx)?;
        commands::set_overdraft_limit(app, user, input).await
    }

    /// Starts a transfer between two of the user's accounts. Returns at once with the transfer
    /// PENDING; it becomes POSTED, or VOIDED with a failure code, moments later.
    async fn create_transfer(
        &self,
        ctx: &Context<'_>,
        input: CreateTransferInput,
    ) -> Result<CreateTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::create_transfer(app, user, input).await
    }

    /// Sets the amount, per currency, at or over which a transfer waits for the owner's
    /// approval; a null amount clears it. Transfers registered before keep the terms they had.
    async fn set_approval_threshold(
        &self,
        ctx: &Context<'_>,
        input: SetApprovalThresholdInput,
    ) -> Result<SetApprovalThresholdPayload> {
        let (app, user) = state(ctx)?;
        commands::set_approval_threshold(app, user, input).await
    }

    /// Approves a transfer AWAITING_APPROVAL: answers once it is POSTED. Approving it again
    /// answers the same; a transfer that awaits no approval is refused (NOT_AWAITING_APPROVAL).
    async fn approve_transfer(
        &self,
        ctx: &Context<'_>,
        input: ApproveTransferInput,
    ) -> Result<ApproveTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::approve_transfer(app, user, input).await
    }

    /// Cancels a transfer AWAITING_APPROVAL: answers once it is VOIDED (CANCELLED) and the
    /// money it held released.
    async fn cancel_transfer(
        &self,
        ctx: &Context<'_>,
        input: CancelTransferInput,
    ) -> Result<CancelTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::cancel_transfer(app, user, input).await
    }

    /// A transfer made again and again on a schedule (a Temporal Schedule per rule), each run
    /// a transfer of its own, at 09:00 in the rule's time zone.
    async fn create_recurring_transfer(
        &self,
        ctx: &Context<'_>,
        input: CreateRecurringTransferInput,
    ) -> Result<CreateRecurringTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::create_recurring_transfer(app, user, input).await
    }

    /// Reverses a POSTED transfer with a transfer the other way, run as a workflow of its own:
    /// the original stays POSTED and gains `reversedBy`. A transfer is reversed once
    /// (ALREADY_REVERSED); the account the money returns from must be able to pay.
    async fn reverse_transfer(
        &self,
        ctx: &Context<'_>,
        input: ReverseTransferInput,
    ) -> Result<ReverseTransferPayload> {
        let (app, user) = state(ctx)?;
        commands::reverse_transfer(app, user, input).await
    }
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
