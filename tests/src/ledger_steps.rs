//! Driving the ledger's write steps directly, below the workflows, for the tests of the
//! ledger itself (`tests/tests/ledger_*.rs`): accounts opened through the opening step, the
//! two steps that take money, and reading the ledger's state back. The ledger moves only what
//! an operation registered, so each helper registers its operation first, as the API would.

use djinn_domain::{
    AccountId, AccountKind, AccountName, Currency, Money, OperationId, TransferRequest, UserId,
};
use djinn_ledger::{self as ledger, Applied, NewAccount};
use djinn_store::openings::{self, OpeningRequest};
use djinn_store::session::begin_as;
use djinn_store::{PgPool, RejectionCode, StoreError};

pub fn usd(amount_minor: i64) -> Money {
    Money::from_minor(amount_minor, Currency::parse("USD").expect("USD"))
}

/// Opens an account as `open` does, and checks that replaying the opening changes nothing.
pub async fn account(pool: &PgPool, user: UserId, opening_minor: i64) -> anyhow::Result<AccountId> {
    let new = new_account(user, "Account", opening_minor)?;
    register_opening(pool, &new).await?;
    assert_eq!(ledger::open_account(pool, &new).await?, Applied::Now);
    assert_eq!(
        ledger::open_account(pool, &new).await?,
        Applied::Already,
        "opening replayed changes nothing"
    );
    Ok(new.account_id)
}

/// Opens a USD checking account with `opening_minor` cents, through the ledger's step.
pub async fn open(pool: &PgPool, user: UserId, opening_minor: i64) -> anyhow::Result<AccountId> {
    let new = new_account(user, "Checking", opening_minor)?;
    register_opening(pool, &new).await?;
    ledger::open_account(pool, &new).await?;
    Ok(new.account_id)
}

/// A USD checking account named `name`, opened with `opening_minor` cents; its operation shares
/// its id, as the API makes it.
pub fn new_account(user: UserId, name: &str, opening_minor: i64) -> anyhow::Result<NewAccount> {
    let account_id = AccountId::generate();
    Ok(NewAccount {
        operation_id: OperationId::from_uuid(account_id.as_uuid()),
        account_id,
        user,
        name: AccountName::parse(name)?,
        kind: AccountKind::Checking,
        opening_balance: usd(opening_minor),
        overdraft_limit: None,
    })
}

/// Registers the opening `new` asks for under its operation, as the API does before it starts
/// the opening's workflow (the account's id is the key).
pub async fn register_opening(pool: &PgPool, new: &NewAccount) -> anyhow::Result<()> {
    let request = OpeningRequest {
        name: new.name.as_str().to_owned(),
        kind: new.kind,
        opening_balance: new.opening_balance,
        overdraft_limit: new.overdraft_limit,
    };
    let key = new.account_id.to_string();
    let workflow_id = format!("open-account:{}:{key}", new.user);
    openings::register_open_account(
        pool,
        new.operation_id,
        new.user,
        &key,
        &workflow_id,
        &request,
    )
    .await?;
    Ok(())
}

/// Registers `request` as the transfer `transfer` of `user`, acting for the user as the API
/// does (so through any pool, the owner's or a login role's), but without its early checks (the funds may be gone by the time the ledger takes them), keyed by the
/// transfer's id. A request no API would register (to its own source, not above zero, between
/// accounts that are not the user's) is left unregistered: the ledger refuses it before it
/// looks at the registration.
pub async fn register_transfer(
    pool: &PgPool,
    user: UserId,
    transfer: OperationId,
    request: &TransferRequest,
) -> anyhow::Result<()> {
    if request.validate().is_err() {
        return Ok(());
    }
    let mut tx = begin_as(pool, user).await?;
    let registered = sqlx::query(
        "WITH operation AS (
             INSERT INTO operations (id, user_id, kind, idempotency_key, workflow_id, status)
             VALUES ($1, $2, 'transfer', $1::text, 'transfer:' || $1::text, 'pending')
             ON CONFLICT DO NOTHING RETURNING id)
         INSERT INTO transfers (operation_id, user_id, from_account_id, to_account_id, amount_minor, currency, description)
         SELECT id, $2, $3, $4, $5, $6, $7 FROM operation",
    )
    .bind(transfer.as_uuid())
    .bind(user.as_uuid())
    .bind(request.from.as_uuid())
    .bind(request.to.as_uuid())
    .bind(request.amount.amount_minor())
    .bind(request.amount.currency().code())
    .bind(request.description.as_ref().map(|d| d.as_str()))
    .execute(&mut *tx)
    .await;
    match registered {
        // Accounts that are not the user's: the API never registers such a request either.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23503") => Ok(()),
        registered => {
            registered?;
            Ok(tx.commit().await?)
        }
    }
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
    register_transfer(pool, user, transfer, &request).await?;
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
        register_transfer(pool, user, transfer, request)
            .await
            .map_err(|error| StoreError::Invariant(format!("registering: {error}")))?;
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

/// Whether `plant` writes with the ledger's triggers on (they judge what is written) or off
/// (to plant what they would refuse, for the functions' own checks to meet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Triggers {
    On,
    Off,
}

/// Writes a pending entry for `transfer` with the legs given (in USD), as the owner in one
/// transaction past the ledger's functions, and returns how its commit (or a statement before
/// it) went.
pub async fn plant(
    pool: &PgPool,
    user: UserId,
    transfer: OperationId,
    legs: &[(AccountId, i64)],
    triggers: Triggers,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if triggers == Triggers::Off {
        sqlx::query("ALTER TABLE postings DISABLE TRIGGER USER")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO transactions (id, user_id, kind, status, idempotency_key)
         VALUES ($1, $2, 'transfer', 'pending', $1::text)",
    )
    .bind(transfer.as_uuid())
    .bind(user.as_uuid())
    .execute(&mut *tx)
    .await?;
    for (account, amount) in legs {
        sqlx::query(
            "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, 'USD')",
        )
        .bind(transfer.as_uuid())
        .bind(user.as_uuid())
        .bind(account.as_uuid())
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    }
    if triggers == Triggers::Off {
        sqlx::query("ALTER TABLE postings ENABLE TRIGGER USER")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}
