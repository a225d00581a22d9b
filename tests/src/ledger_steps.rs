//! Driving the ledger's write steps directly, below the workflows, for the tests of the
//! ledger itself (`tests/tests/ledger_*.rs`): accounts opened through the opening step, the
//! two steps that take money, and reading the ledger's state back.

use djinn_domain::{
    AccountId, AccountKind, AccountName, Currency, Money, OperationId, TransferRequest, UserId,
};
use djinn_ledger::{self as ledger, Applied, NewAccount};
use djinn_store::{PgPool, RejectionCode, StoreError};

pub fn usd(amount_minor: i64) -> Money {
    Money::from_minor(amount_minor, Currency::parse("USD").expect("USD"))
}

/// Opens an account as `open` does, and checks that replaying the opening changes nothing.
pub async fn account(pool: &PgPool, user: UserId, opening_minor: i64) -> anyhow::Result<AccountId> {
    let account_id = AccountId::generate();
    let new = NewAccount {
        operation_id: OperationId::from_uuid(account_id.as_uuid()),
        account_id,
        user,
        name: AccountName::parse("Account")?,
        kind: AccountKind::Checking,
        opening_balance: usd(opening_minor),
        overdraft_limit: None,
    };
    assert_eq!(ledger::open_account(pool, &new).await?, Applied::Now);
    assert_eq!(
        ledger::open_account(pool, &new).await?,
        Applied::Already,
        "opening replayed changes nothing"
    );
    Ok(account_id)
}

/// Opens a USD checking account with `opening_minor` cents, through the ledger's step.
pub async fn open(pool: &PgPool, user: UserId, opening_minor: i64) -> anyhow::Result<AccountId> {
    let account_id = AccountId::generate();
    ledger::open_account(
        pool,
        &NewAccount {
            operation_id: OperationId::from_uuid(account_id.as_uuid()),
            account_id,
            user,
            name: AccountName::parse("Checking")?,
            kind: AccountKind::Checking,
            opening_balance: Money::from_minor(opening_minor, Currency::parse("USD")?),
            overdraft_limit: None,
        },
    )
    .await?;
    Ok(account_id)
}

/// A transfer request of `minor` cents from `from` to `to`, without a description.
pub fn usd_transfer(from: AccountId, to: AccountId, minor: i64) -> anyhow::Result<TransferRequest> {
    Ok(TransferRequest::new(
        from,
        to,
        Money::from_minor(minor, Currency::parse("USD")?),
        None,
    )?)
}

/// Reserves a transfer of `minor` cents from `from` to `to` for `user` (key "k"); returns it
/// with the request, for a test to repeat.
pub async fn reserve(
    pool: &PgPool,
    user: UserId,
    from: AccountId,
    to: AccountId,
    minor: i64,
) -> anyhow::Result<(OperationId, TransferRequest)> {
    let transfer = OperationId::generate();
    let request = usd_transfer(from, to, minor)?;
    ledger::reserve_transfer(pool, transfer, user, "k", "wf", &request).await?;
    Ok((transfer, request))
}

pub async fn transaction_status(pool: &PgPool, transfer: OperationId) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
            .bind(transfer.as_uuid())
            .fetch_one(pool)
            .await?,
    )
}

pub async fn balances(pool: &PgPool) -> anyhow::Result<Vec<(uuid::Uuid, i64, i64, i64)>> {
    Ok(sqlx::query_as("SELECT account_id, posted_minor, pending_debit_minor, pending_credit_minor FROM account_balances ORDER BY account_id")
        .fetch_all(pool)
        .await?)
}

/// The balances and the number of postings: what a refusal or a replay must leave as it was.
pub async fn ledger_state(
    pool: &PgPool,
) -> anyhow::Result<(Vec<(uuid::Uuid, i64, i64, i64)>, i64)> {
    Ok((balances(pool).await?, postings(pool).await?))
}

pub async fn postings(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM postings")
        .fetch_one(pool)
        .await?)
}

/// The two ledger steps that take money from a source: the reservation of a transfer that
/// waits (posted later), and the step that reserves and posts at once.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Reserve,
    AtOnce,
}

impl Step {
    pub const BOTH: [Step; 2] = [Step::Reserve, Step::AtOnce];

    pub async fn take(
        self,
        pool: &PgPool,
        transfer: OperationId,
        user: UserId,
        key: &str,
        request: &TransferRequest,
    ) -> Result<Applied, StoreError> {
        match self {
            Step::Reserve => {
                ledger::reserve_transfer(pool, transfer, user, key, "wf", request).await
            }
            Step::AtOnce => {
                ledger::reserve_and_post_transfer(pool, transfer, user, key, "wf", request).await
            }
        }
    }

    /// Takes the step and, for a reservation, posts it: the money has moved.
    pub async fn complete(
        self,
        pool: &PgPool,
        transfer: OperationId,
        user: UserId,
        key: &str,
        request: &TransferRequest,
    ) -> Result<Applied, StoreError> {
        let taken = self.take(pool, transfer, user, key, request).await?;
        match self {
            Step::Reserve => ledger::post_transfer(pool, transfer, user).await,
            Step::AtOnce => Ok(taken),
        }
    }
}

pub fn rejection<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Option<RejectionCode> {
    match result {
        Err(StoreError::Rejected(rejection)) => Some(rejection.code),
        _ => None,
    }
}
