//! The queries: the user, any node by its global id, and the lists and objects the contract
//! names. Each reads as the request's user; another user's id reads as unknown (null).

use super::*;

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
            NodeType::StatementImport => statement_import(app, user, uuid)
                .await?
                .map(Node::StatementImport),
            NodeType::ReconciliationRun => reconciliation_run(app, user, uuid)
                .await?
                .map(Node::ReconciliationRun),
        })
    }

    /// A statement import, with its progress.
    async fn statement_import(&self, ctx: &Context<'_>, id: ID) -> Result<Option<StatementImport>> {
        let (app, user) = state(ctx)?;
        match ids::decode_as(&id, NodeType::StatementImport) {
            Some(uuid) => statement_import(app, user, uuid).await,
            None => Ok(None),
        }
    }

    /// A reconciliation run, with what it found.
    async fn reconciliation_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<ReconciliationRun>> {
        let (app, user) = state(ctx)?;
        match ids::decode_as(&id, NodeType::ReconciliationRun) {
            Some(uuid) => reconciliation_run(app, user, uuid).await,
            None => Ok(None),
        }
    }

    /// The user's recurring transfers (deleted ones left out), oldest first, each with its
    /// last runs. `first` is capped at 100.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn recurring_transfers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, RecurringTransfer>> {
        let (app, user) = state(ctx)?;
        let limit = page_size(first)?;
        let after = cursor(after)?.map(djinn_domain::RecurringTransferId::from_uuid);
        let rows = djinn_store::recurring::list(&app.pool, user, after, limit + 1)
            .await
            .map_err(internal)?;
        Ok(page(
            rows,
            limit,
            after.is_some(),
            |(rule, _)| rule.rule.id.as_uuid(),
            |(rule, runs)| RecurringTransfer(rule, runs),
        ))
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

async fn statement_import(
    app: &AppState,
    user: UserId,
    uuid: uuid::Uuid,
) -> Result<Option<StatementImport>> {
    let id = djinn_domain::StatementImportId::from_uuid(uuid);
    Ok(djinn_store::imports::get(&app.pool, user, id)
        .await
        .map_err(internal)?
        .map(StatementImport))
}

async fn reconciliation_run(
    app: &AppState,
    user: UserId,
    uuid: uuid::Uuid,
) -> Result<Option<ReconciliationRun>> {
    let id = djinn_domain::ReconciliationRunId::from_uuid(uuid);
    Ok(djinn_store::reconciliation::get(&app.pool, user, id)
        .await
        .map_err(internal)?
        .map(ReconciliationRun))
}
