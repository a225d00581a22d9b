//! The steps that take a transfer's amount from its source (the reservation, and the step that
//! reserves and posts at once) and the one that posts a reservation.

use crate::outcome::{Refusal, registration_refused, step_outcome, unknown_outcome};
use crate::postings::{out_of_range, transaction_for};
use crate::{Applied, LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{OperationId, Posting, PostingId, TransferRequest, UserId, assert_balanced};
use djinn_store::PgPool;
use djinn_store::sql;

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
        let query = sql::query_scalar::<String>(self.sql)
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
        let called = sql::scalar_alone(pool, query).await;
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
        "approval_required" => LedgerRejection::new(
            RejectionCode::ApprovalRequired,
            "the transfer waits for approval: it is reserved, then posted or voided",
        ),
        "not_posted" => LedgerRejection::new(
            RejectionCode::NotPosted,
            "a reversal's original transfer is not posted",
        ),
        "not_registered" | "not_pending" => return registration_refused(&refusal.outcome),
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
    let statement = sql::query_scalar::<String>("SELECT ledger_post_transfer_for($1, $2, $3)")
        .bind(user.as_uuid())
        .bind(transaction_for(transfer_id).as_uuid())
        .bind(transfer_id.as_uuid());
    let called = sql::scalar_alone(pool, statement).await;
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
        "not_registered" | "not_pending" => return Err(registration_refused(&refusal.outcome)),
        other => return Err(unknown_outcome(FUNCTION, other)),
    };
    Err(rejection.into())
}
