//! Accounts and opening them.

use super::entry::LedgerEntry;
use super::ids::{self, NodeType};
use super::money::{Money, MoneyInput};
use super::statements::ReconciliationRun;
use super::user_error::UserError;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use djinn_domain::AccountKind as DomainKind;
use djinn_store::accounts::AccountView;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Checking,
    Savings,
    CreditCard,
    Cash,
    Loan,
}

impl From<AccountKind> for DomainKind {
    fn from(kind: AccountKind) -> Self {
        match kind {
            AccountKind::Checking => DomainKind::Checking,
            AccountKind::Savings => DomainKind::Savings,
            AccountKind::CreditCard => DomainKind::CreditCard,
            AccountKind::Cash => DomainKind::Cash,
            AccountKind::Loan => DomainKind::Loan,
        }
    }
}

impl AccountKind {
    /// System kinds are never shown; they read as checking only if a bug let one through.
    fn from_domain(kind: DomainKind) -> Self {
        match kind {
            DomainKind::Savings => AccountKind::Savings,
            DomainKind::CreditCard => AccountKind::CreditCard,
            DomainKind::Cash => AccountKind::Cash,
            DomainKind::Loan => AccountKind::Loan,
            DomainKind::Checking | DomainKind::Equity | DomainKind::Clearing => {
                AccountKind::Checking
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Account(pub AccountView);

#[Object]
impl Account {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.id.as_uuid())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> AccountKind {
        AccountKind::from_domain(self.0.kind)
    }
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }
    /// Posted balance.
    async fn balance(&self) -> Money {
        self.0.balance.into()
    }
    /// Posted balance minus amounts reserved by pending transfers.
    async fn available_balance(&self) -> Money {
        self.0.available_balance.into()
    }
    /// How far below zero the available balance may go; null: not at all.
    async fn overdraft_limit(&self) -> Option<Money> {
        self.0.overdraft_limit.map(Into::into)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The account's history, newest activity first: `first`/`after` pages toward older
    /// entries, `last`/`before` toward newer ones (at most 100 a page).
    #[graphql(complexity = "super::page_complexity(first.or(last), child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, LedgerEntry>> {
        super::entry::entries(ctx, self.0.id, first, after, last, before).await
    }
    /// The account's reconciliation runs, newest first (at most 100 a page).
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn reconciliation_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, ReconciliationRun>> {
        let (app, user) = super::state(ctx)?;
        let limit = super::page_size(first)?;
        let after = super::cursor(after)?;
        let runs = djinn_store::reconciliation::list(&app.pool, user, self.0.id, after, limit + 1)
            .await
            .map_err(super::internal)?;
        Ok(super::page(
            runs,
            limit,
            after.is_some(),
            |run| run.id,
            ReconciliationRun,
        ))
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct OpenAccountInput {
    /// The same key returns the same account instead of opening another one. Required with a
    /// non-zero opening balance (IDEMPOTENCY_KEY_REQUIRED otherwise); optional for an empty
    /// account.
    pub idempotency_key: Option<String>,
    pub name: String,
    pub kind: AccountKind,
    pub currency: String,
    /// Posted against the user's opening-balance equity account. Zero or more; a credit card or
    /// a loan may open owing (below zero), at most its `overdraftLimit`.
    pub opening_balance: Option<MoneyInput>,
    /// How far below zero the account may go (a credit line, an arranged overdraft), in the
    /// account's currency. Absent or zero: never below zero.
    pub overdraft_limit: Option<MoneyInput>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct OpenAccountPayload {
    pub account: Option<Account>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject, Clone, Debug)]
pub struct SetOverdraftLimitInput {
    pub account_id: ID,
    /// In the account's currency; null or zero: the account never goes below zero.
    pub limit: Option<MoneyInput>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct SetOverdraftLimitPayload {
    pub account: Option<Account>,
    pub user_errors: Vec<UserError>,
}
