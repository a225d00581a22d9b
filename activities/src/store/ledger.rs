//! Ledger writes. Each function is one database transaction that either does all of its effect
//! or none, and each is idempotent: it first claims a unique key (the transaction id, or a status
//! transition from an expected state), so a replay finds the effect done and changes nothing.
//!
//! Balance rows are always locked in account-id order, so concurrent transfers between the same
//! accounts in opposite directions cannot deadlock.
//!
//! A transfer's ledger steps are one statement each: a call of a PostgreSQL function outside
//! any explicit transaction, so PostgreSQL commits it before it answers. A step is one round
//! trip, and the balance rows' locks are held for that statement alone. A transfer that has
//! nothing to wait for is reserved and posted by one such call
//! (migrations/..._post_at_once_when_nothing_waits.sql); one that waits (an approval) is
//! reserved, then posted or voided, by one call each (..._ledger_steps_in_one_round_trip.sql).
//! The functions act as the application role for the user they are given, and refuse by
//! raising (SQLSTATE `DJ001`), which undoes what they wrote. This module still builds the
//! postings, checks that they balance before the call, and turns the functions' outcomes and
//! refusals into rejections.

use super::session::begin_as;
use crate::{LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{
    AccountId, AccountKind, AccountName, Money, OperationId, Posting, PostingId, TransactionId,
    TransferRequest, UserId, assert_balanced,
};
use sqlx::postgres::PgDatabaseError;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What a ledger write found: it did the work now, or the work was already done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Now,
    Already,
}

/// Reserves a transfer: a pending transaction with its two postings, the amount held on the
/// source (pending debit) and announced on the destination (pending credit). The source's
/// available balance is checked and changed in one statement, so concurrent reservations can
/// never take it below its floor. The rows are written by `ledger_reserve_transfer_for`
/// (migrations/..._ledger_steps_in_one_round_trip.sql), in one call, from postings built and
/// checked here. A transfer that has something to wait for takes this step, then `post_transfer`.
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
pub async fn reserve_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
    idempotency_key: &str,
    workflow_id: &str,
    request: &TransferRequest,
) -> Result<Applied, StoreError> {
    RESERVE
        .run(
            pool,
            transfer_id,
            user,
            idempotency_key,
            workflow_id,
            request,
        )
        .await
}

/// Reserves and posts a transfer in one database transaction, for a transfer that has nothing
/// to wait for between the two: the entry is written posted, each leg moves the posted balance
/// (the source's floor checked in the statement that moves it) and the operation is marked
/// posted, by one call of `ledger_reserve_and_post_transfer_for`
/// (migrations/..._post_at_once_when_nothing_waits.sql). It ends where `reserve_transfer` then
/// `post_transfer` end, in one round trip and one commit instead of two.
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
pub async fn reserve_and_post_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
    idempotency_key: &str,
    workflow_id: &str,
    request: &TransferRequest,
) -> Result<Applied, StoreError> {
    RESERVE_AND_POST
        .run(
            pool,
            transfer_id,
            user,
            idempotency_key,
            workflow_id,
            request,
        )
        .await
}

const RESERVE: TakingCall = TakingCall {
    function: "ledger_reserve_transfer_for",
    sql: "SELECT ledger_reserve_transfer_for($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    applied: ["reserved", "already_claimed"],
    with_operation: false,
};

const RESERVE_AND_POST: TakingCall = TakingCall {
    function: "ledger_reserve_and_post_transfer_for",
    // The operation id is bound last ($10), after the arguments both functions share.
    sql: "SELECT ledger_reserve_and_post_transfer_for($1, $2, $10, $3, $4, $5, $6, $7, $8, $9)",
    applied: ["posted", "already_posted"],
    with_operation: true,
};

/// A call of one of the two functions that take a transfer's amount from its source: the
/// reservation, and the step that reserves and posts at once. Both are given the same legs,
/// built and checked here, and refuse with the same words.
struct TakingCall {
    function: &'static str,
    sql: &'static str,
    /// The outcome words for "did it now" and "had done it already".
    applied: [&'static str; 2],
    /// Whether the function also takes the operation id, to mark the operation posted.
    with_operation: bool,
}

impl TakingCall {
    async fn run(
        self,
        pool: &PgPool,
        transfer_id: OperationId,
        user: UserId,
        idempotency_key: &str,
        workflow_id: &str,
        request: &TransferRequest,
    ) -> Result<Applied, StoreError> {
        let postings = transfer_legs(request)?;
        let currency = request.amount.currency();
        let query = sqlx::query_scalar::<_, String>(self.sql)
            .bind(user.as_uuid())
            .bind(transaction_for(transfer_id).as_uuid())
            .bind(idempotency_key)
            .bind(workflow_id)
            .bind(request.description.as_ref().map(|d| d.as_str()))
            .bind(currency.code())
            .bind(postings.map(|_| PostingId::generate().as_uuid()))
            .bind(postings.map(|p| p.account_id.as_uuid()))
            .bind(postings.map(|p| p.amount_minor));
        let query = if self.with_operation {
            query.bind(transfer_id.as_uuid())
        } else {
            query
        };
        let called = query.fetch_one(pool).await;
        match step_outcome(self.function, called, self.applied)? {
            Ok(applied) => Ok(applied),
            Err(refusal) => Err(transfer_refused(self.function, &refusal, request)),
        }
    }
}

/// A transfer's two legs, the source's debit and the destination's credit, from a request
/// validated again here (the workflow's validation ran in another process), and checked to
/// balance before any call.
fn transfer_legs(request: &TransferRequest) -> Result<[Posting; 2], StoreError> {
    request
        .validate()
        .map_err(|e| LedgerRejection::new(RejectionCode::from(e.clone()), e.to_string()))?;
    let amount_minor = request.amount.amount_minor();
    let currency = request.amount.currency();
    let postings = [
        Posting {
            account_id: request.from,
            amount_minor: amount_minor.checked_neg().ok_or_else(out_of_range)?,
            currency,
        },
        Posting {
            account_id: request.to,
            amount_minor,
            currency,
        },
    ];
    assert_balanced(&postings).map_err(|e| StoreError::Invariant(e.to_string()))?;
    Ok(postings)
}

/// The rejection for a transfer step's refusal word: the words the reservation's checks raise,
/// and `voided` (a void's tombstone holds the entry).
fn transfer_refused(function: &str, refusal: &Refusal, request: &TransferRequest) -> StoreError {
    let rejection = match refusal.outcome.as_str() {
        "idempotency_key_reused" => LedgerRejection::new(
            RejectionCode::IdempotencyKeyReused,
            "another transfer of this user holds the same idempotency key",
        ),
        "account_not_found" => {
            LedgerRejection::new(RejectionCode::AccountNotFound, "no such account")
        }
        "currency_mismatch" => LedgerRejection::new(
            RejectionCode::CurrencyMismatch,
            format!(
                "the accounts hold {}, the amount is in {}",
                refusal.detail.as_deref().unwrap_or("another currency"),
                request.amount.currency()
            ),
        ),
        "account_closed" => {
            LedgerRejection::new(RejectionCode::AccountClosed, "the account is closed")
        }
        "insufficient_funds" => LedgerRejection::new(
            RejectionCode::InsufficientFunds,
            // No amount here: this message ends up in the workflow's history.
            "the available balance of the source account is too low",
        ),
        "voided" => LedgerRejection::new(RejectionCode::TransferVoided, "the transfer was voided"),
        other => return unknown_outcome(function, other),
    };
    rejection.into()
}

/// Posts a reserved transfer: the pending amounts become posted balances and the operation is
/// marked posted, in one database transaction (one call of `ledger_post_transfer_for`, which
/// checks that the legs it applied balance before it commits).
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
pub async fn post_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
) -> Result<Applied, StoreError> {
    let called = sqlx::query_scalar::<_, String>("SELECT ledger_post_transfer_for($1, $2, $3)")
        .bind(user.as_uuid())
        .bind(transaction_for(transfer_id).as_uuid())
        .bind(transfer_id.as_uuid())
        .fetch_one(pool)
        .await;
    const FUNCTION: &str = "ledger_post_transfer_for";
    let refusal = match step_outcome(FUNCTION, called, ["posted", "already_posted"])? {
        Ok(applied) => return Ok(applied),
        Err(refusal) => refusal,
    };
    let rejection = match refusal.outcome.as_str() {
        "voided" => LedgerRejection::new(RejectionCode::TransferVoided, "the transfer was voided"),
        "not_reserved" => LedgerRejection::new(
            RejectionCode::NotReserved,
            "the transfer was never reserved",
        ),
        other => return Err(unknown_outcome(FUNCTION, other)),
    };
    Err(rejection.into())
}

/// The SQLSTATE with which a ledger step function refuses: it raises, so that whatever it wrote
/// is undone with its statement (migrations/..._ledger_steps_in_one_round_trip.sql).
const STEP_REFUSED: &str = "DJ001";

/// A ledger step function's refusal: its outcome word and, for some, a detail.
struct Refusal {
    outcome: String,
    detail: Option<String>,
}

/// Sorts a ledger step function's answer: what it applied (the outcome words for "did it now"
/// and "had done it already", in that order), its refusal, or a failure.
fn step_outcome(
    function: &str,
    called: Result<String, sqlx::Error>,
    [now, already]: [&str; 2],
) -> Result<Result<Applied, Refusal>, StoreError> {
    match called {
        Ok(outcome) if outcome == now => Ok(Ok(Applied::Now)),
        Ok(outcome) if outcome == already => Ok(Ok(Applied::Already)),
        Ok(other) => Err(unknown_outcome(function, &other)),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(STEP_REFUSED) => {
            let detail = error
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(|pg| pg.detail().map(str::to_owned));
            Ok(Err(Refusal {
                outcome: error.message().to_owned(),
                detail,
            }))
        }
        Err(error) => Err(error.into()),
    }
}

/// Voids a transfer that has not been posted: releases what was reserved (if anything was) and
/// records why on the operation. A posted transfer is left alone, since it can only be
/// reversed: the void is refused as `TRANSFER_POSTED`, and the workflow that asked ends POSTED.
/// That happens when a step that reserves and posts at once committed but its answer never
/// came back, and the workflow gave up on it.
///
/// When nothing was reserved, the void leaves a `voided` journal entry without postings as a
/// tombstone, so that a reservation attempt still in flight (or a workflow restarted from the
/// Temporal UI) finds the entry claimed and can never hold or move the money afterwards.
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id, code))]
pub async fn void_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
    idempotency_key: &str,
    code: &str,
    message: &str,
) -> Result<Applied, StoreError> {
    let transaction_id = transaction_for(transfer_id);
    let mut tx = begin_as(pool, user).await?;
    let tombstone: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO transactions (id, user_id, kind, status, idempotency_key, description)
         VALUES ($1, $2, 'transfer', 'voided', $3, 'voided before it was reserved') ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(transaction_id.as_uuid())
    .bind(user.as_uuid())
    .bind(idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    let released: Option<Uuid> = if tombstone.is_some() {
        None
    } else {
        sqlx::query_scalar(
        "UPDATE transactions SET status = 'voided', updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING id",
    )
        .bind(transaction_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
    };
    if tombstone.is_none() && released.is_none() {
        let found: Option<String> =
            sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
                .bind(transaction_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        if found.as_deref() == Some("posted") {
            return Err(LedgerRejection::new(
                RejectionCode::TransferPosted,
                "the transfer was posted: it can only be reversed",
            )
            .into());
        }
    }
    if released.is_some() {
        for posting in read_postings(&mut tx, transaction_id).await? {
            let (debit_minor, credit_minor) = pending_parts(posting.amount_minor)?;
            sqlx::query(
                "UPDATE account_balances
                    SET pending_debit_minor = pending_debit_minor - $2,
                        pending_credit_minor = pending_credit_minor - $3,
                        updated_at = now()
                  WHERE account_id = $1",
            )
            .bind(posting.account_id.as_uuid())
            .bind(debit_minor)
            .bind(credit_minor)
            .execute(&mut *tx)
            .await?;
        }
    }
    let changed =
        set_operation_status(&mut tx, transfer_id, "voided", Some((code, message))).await?;
    tx.commit().await?;
    Ok(if changed || released.is_some() || tombstone.is_some() {
        Applied::Now
    } else {
        Applied::Already
    })
}

/// What opening an account writes.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub operation_id: OperationId,
    pub account_id: AccountId,
    pub user: UserId,
    pub name: AccountName,
    pub kind: AccountKind,
    /// The opening balance, posted against the user's equity account in the same currency.
    pub opening_balance: Money,
    /// How far below zero the account may go, in its currency; `None`: not at all.
    pub overdraft_limit: Option<Money>,
}

/// Opens an account with its balance row and, when the opening balance is not zero, a posted
/// opening transaction against the user's equity account for that currency.
#[tracing::instrument(skip_all, fields(account_id = %account.account_id))]
pub async fn open_account(pool: &PgPool, account: &NewAccount) -> Result<Applied, StoreError> {
    let currency = account.opening_balance.currency();
    let overdraft_minor = match account.overdraft_limit {
        Some(limit) if limit.currency() != currency || limit.amount_minor() < 0 => {
            return Err(LedgerRejection::new(
                RejectionCode::InvalidAmount,
                "an overdraft limit is zero or more, in the account's currency",
            )
            .into());
        }
        // A limit of zero is no limit: stored as NULL, so there is one way to say it.
        limit => limit
            .map(|limit| limit.amount_minor())
            .filter(|minor| *minor > 0),
    };
    if overdraft_minor.is_some() && account.kind.is_system() {
        return Err(StoreError::Invariant(
            "a system account has no floor, so no overdraft limit".into(),
        ));
    }
    let mut tx = begin_as(pool, account.user).await?;
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO accounts (id, user_id, name, kind, currency, overdraft_limit_minor)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(account.account_id.as_uuid())
    .bind(account.user.as_uuid())
    .bind(account.name.as_str())
    .bind(account.kind.as_str())
    .bind(currency.code())
    .bind(overdraft_minor)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed.is_none() {
        return Ok(Applied::Already);
    }
    // System accounts have no floor; a user account may go as far below zero as its limit.
    let floor = if account.kind.is_system() {
        None
    } else {
        Some(
            overdraft_minor
                .unwrap_or(0)
                .checked_neg()
                .ok_or_else(out_of_range)?,
        )
    };
    sqlx::query(
        "INSERT INTO account_balances (account_id, user_id, floor_minor) VALUES ($1, $2, $3)",
    )
    .bind(account.account_id.as_uuid())
    .bind(account.user.as_uuid())
    .bind(floor)
    .execute(&mut *tx)
    .await?;

    let opening_minor = account.opening_balance.amount_minor();
    if opening_minor != 0 {
        let equity =
            ensure_system_account(&mut tx, account.user, AccountKind::Equity, currency.code())
                .await?;
        let transaction_id = TransactionId::from_uuid(account.operation_id.as_uuid());
        sqlx::query(
            "INSERT INTO transactions (id, user_id, kind, status, idempotency_key, description)
             VALUES ($1, $2, 'opening', 'posted', $3, 'Opening balance')",
        )
        .bind(transaction_id.as_uuid())
        .bind(account.user.as_uuid())
        .bind(account.account_id.to_string())
        .execute(&mut *tx)
        .await?;
        let postings = [
            Posting {
                account_id: account.account_id,
                amount_minor: opening_minor,
                currency,
            },
            Posting {
                account_id: equity,
                amount_minor: opening_minor.checked_neg().ok_or_else(out_of_range)?,
                currency,
            },
        ];
        assert_balanced(&postings).map_err(|e| StoreError::Invariant(e.to_string()))?;
        for posting in sorted_by_account(postings) {
            sqlx::query("UPDATE account_balances SET posted_minor = posted_minor + $2, updated_at = now() WHERE account_id = $1")
                .bind(posting.account_id.as_uuid())
                .bind(posting.amount_minor)
                .execute(&mut *tx)
                .await?;
        }
        insert_postings(&mut tx, transaction_id, account.user, &postings).await?;
    }
    set_operation_status(&mut tx, account.operation_id, "completed", None).await?;
    tx.commit().await?;
    Ok(Applied::Now)
}

/// The user's system account of `kind` in `currency`, created on first use.
async fn ensure_system_account(
    tx: &mut PgConnection,
    user: UserId,
    kind: AccountKind,
    currency: &str,
) -> Result<AccountId, StoreError> {
    let name = match kind {
        AccountKind::Equity => "Opening balances",
        _ => "External clearing",
    };
    let created: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO accounts (id, user_id, name, kind, currency) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, currency, kind) WHERE kind IN ('equity', 'clearing') DO NOTHING RETURNING id",
    )
    .bind(AccountId::generate().as_uuid())
    .bind(user.as_uuid())
    .bind(name)
    .bind(kind.as_str())
    .bind(currency)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = created {
        sqlx::query(
            "INSERT INTO account_balances (account_id, user_id, floor_minor) VALUES ($1, $2, NULL)",
        )
        .bind(id)
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await?;
        return Ok(AccountId::from_uuid(id));
    }
    let id: Uuid = sqlx::query_scalar(
        "SELECT id FROM accounts WHERE user_id = $1 AND currency = $2 AND kind = $3",
    )
    .bind(user.as_uuid())
    .bind(currency)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await?;
    Ok(AccountId::from_uuid(id))
}

async fn insert_postings(
    tx: &mut PgConnection,
    transaction_id: TransactionId,
    user: UserId,
    postings: &[Posting],
) -> Result<(), StoreError> {
    // One statement for all legs: the entry is written whole or not at all, in one round trip.
    let ids: Vec<Uuid> = postings
        .iter()
        .map(|_| PostingId::generate().as_uuid())
        .collect();
    let accounts: Vec<Uuid> = postings.iter().map(|p| p.account_id.as_uuid()).collect();
    let amounts: Vec<i64> = postings.iter().map(|p| p.amount_minor).collect();
    let currencies: Vec<String> = postings
        .iter()
        .map(|p| p.currency.code().to_owned())
        .collect();
    sqlx::query(
        "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
         SELECT id, $2, $6, account_id, amount_minor, currency
           FROM unnest($1::uuid[], $3::uuid[], $4::bigint[], $5::text[]) AS leg(id, account_id, amount_minor, currency)",
    )
    .bind(ids)
    .bind(transaction_id.as_uuid())
    .bind(accounts)
    .bind(amounts)
    .bind(currencies)
    .bind(user.as_uuid())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Reads a transaction's postings back and checks that they still balance.
pub(crate) async fn read_postings(
    tx: &mut PgConnection,
    transaction_id: TransactionId,
) -> Result<Vec<Posting>, StoreError> {
    let rows: Vec<(Uuid, i64, String)> =
        sqlx::query_as("SELECT account_id, amount_minor, currency::text FROM postings WHERE transaction_id = $1 ORDER BY account_id")
            .bind(transaction_id.as_uuid())
            .fetch_all(&mut *tx)
            .await?;
    check_balanced(transaction_id, rows)
}

/// Turns legs read from the database into postings, and checks that they balance: a
/// transaction that no longer sums to zero is a broken invariant, never a user error.
fn check_balanced(
    transaction_id: TransactionId,
    legs: impl IntoIterator<Item = (Uuid, i64, String)>,
) -> Result<Vec<Posting>, StoreError> {
    let postings = legs
        .into_iter()
        .map(|(account_id, amount_minor, currency)| {
            let currency = djinn_domain::Currency::parse(&currency)
                .map_err(|e| StoreError::Invariant(e.to_string()))?;
            Ok(Posting {
                account_id: AccountId::from_uuid(account_id),
                amount_minor,
                currency,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    assert_balanced(&postings)
        .map_err(|e| StoreError::Invariant(format!("transaction {transaction_id}: {e}")))?;
    Ok(postings)
}

async fn set_operation_status(
    tx: &mut PgConnection,
    id: OperationId,
    status: &str,
    failure: Option<(&str, &str)>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE operations SET status = $2, failure_code = $3, failure_message = $4, updated_at = now()
          WHERE id = $1 AND status IN ('pending', 'awaiting_approval')",
    )
    .bind(id.as_uuid())
    .bind(status)
    .bind(failure.map(|(code, _)| code))
    .bind(failure.map(|(_, message)| message))
    .execute(&mut *tx)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// A ledger function answered with an outcome this code does not know: the migrations and the
/// binary disagree.
fn unknown_outcome(function: &str, outcome: &str) -> StoreError {
    StoreError::Invariant(format!(
        "{function} answered an unknown outcome {outcome:?}"
    ))
}

/// A transfer's ledger transaction shares its operation's id: one transfer, one journal entry.
fn transaction_for(transfer_id: OperationId) -> TransactionId {
    TransactionId::from_uuid(transfer_id.as_uuid())
}

fn sorted_by_account<const N: usize>(mut postings: [Posting; N]) -> [Posting; N] {
    postings.sort_by_key(|p| p.account_id);
    postings
}

/// Splits a posting into the pending debit and pending credit it was reserved as.
fn pending_parts(amount_minor: i64) -> Result<(i64, i64), StoreError> {
    if amount_minor < 0 {
        Ok((amount_minor.checked_neg().ok_or_else(out_of_range)?, 0))
    } else {
        Ok((0, amount_minor))
    }
}

fn out_of_range() -> StoreError {
    LedgerRejection::new(
        RejectionCode::AmountOutOfRange,
        "the amount is out of range",
    )
    .into()
}
