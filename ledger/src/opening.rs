//! Opening an account: the account, its balance row and its opening entry, in one transaction.

use crate::postings::{insert_postings, out_of_range, set_operation_status, sorted_by_account};
use crate::{Applied, LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{
    AMOUNT_MAX_MINOR, AccountId, AccountKind, AccountName, Money, OperationId, Posting,
    TransactionId, UserId, assert_balanced,
};
use djinn_store::PgPool;
use djinn_store::session::begin_as;
use djinn_store::sql;
use sqlx::PgConnection;
use uuid::Uuid;

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
    check_terms(account)?;
    let (overdraft_minor, floor_minor) = overdraft_and_floor(account)?;
    let mut tx = begin_as(pool, account.user).await?;
    let waiting = registered(&mut tx, account, overdraft_minor).await?;
    let claimed: Option<Uuid> = sql::query_scalar(
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
    if !waiting {
        return Err(LedgerRejection::new(
            RejectionCode::NotPending,
            "the opening is no longer waiting for this step",
        )
        .into());
    }
    sql::query(
        "INSERT INTO account_balances (account_id, user_id, floor_minor) VALUES ($1, $2, $3)",
    )
    .bind(account.account_id.as_uuid())
    .bind(account.user.as_uuid())
    .bind(floor_minor)
    .execute(&mut *tx)
    .await?;
    if account.opening_balance.amount_minor() != 0 {
        post_opening_balance(&mut tx, account).await?;
    }
    set_operation_status(&mut tx, account.operation_id, "completed", None).await?;
    tx.commit().await?;
    Ok(Applied::Now)
}

/// The terms no request may set, re-checked here whoever started the run: a user opens no
/// system account, and an opening balance is zero or more and within any amount's range, or,
/// for a credit card or a loan, owing at most its credit line.
fn check_terms(account: &NewAccount) -> Result<(), StoreError> {
    if account.kind.is_system() {
        return Err(LedgerRejection::new(
            RejectionCode::InvalidAccountKind,
            "a user cannot open a system account",
        )
        .into());
    }
    let opening_minor = account.opening_balance.amount_minor();
    let credit_line = account
        .overdraft_limit
        .map_or(0, |limit| limit.amount_minor());
    let owing_allowed =
        account.kind.may_open_owing() && opening_minor >= credit_line.saturating_neg();
    if opening_minor > AMOUNT_MAX_MINOR || (opening_minor < 0 && !owing_allowed) {
        return Err(LedgerRejection::new(
            RejectionCode::InvalidAmount,
            "an opening balance is zero or more, and at most the largest amount; only a credit \
             card or a loan may open owing, within its credit line",
        )
        .into());
    }
    Ok(())
}

/// Whether the API registered exactly this opening (name, kind, currency, opening balance and
/// overdraft limit) under the account's operation, for this user: the ledger opens only what
/// was asked for, whoever started the run (NOT_REGISTERED otherwise). Answers whether the
/// operation still waits for it; the row stays locked until the step commits.
async fn registered(
    tx: &mut PgConnection,
    account: &NewAccount,
    overdraft_minor: Option<i64>,
) -> Result<bool, StoreError> {
    let found: Option<(String, String, String, String, i64, Option<i64>)> = sql::query_as(
        "SELECT o.status, r.name, r.kind, r.currency::text, r.opening_minor, r.overdraft_limit_minor
           FROM operations o JOIN account_openings r ON r.operation_id = o.id
          WHERE o.id = $1 AND o.user_id = $2 AND o.kind = 'open_account'
            FOR UPDATE OF o",
    )
    .bind(account.operation_id.as_uuid())
    .bind(account.user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let matches = found
        .as_ref()
        .is_some_and(|(_, name, kind, currency, opening, limit)| {
            account.operation_id.as_uuid() == account.account_id.as_uuid()
                && name == account.name.as_str()
                && kind == account.kind.as_str()
                && currency == account.opening_balance.currency().code()
                && *opening == account.opening_balance.amount_minor()
                && *limit == overdraft_minor
        });
    if !matches {
        return Err(LedgerRejection::new(
            RejectionCode::NotRegistered,
            "no registered opening asks for this account",
        )
        .into());
    }
    Ok(found.is_some_and(|(status, ..)| status == "pending"))
}

/// The account's overdraft limit as stored (`None`: no limit, so there is one way to say it)
/// and the floor of its balance row: minus the limit for a user account, none for a system
/// account, which has no floor.
fn overdraft_and_floor(account: &NewAccount) -> Result<(Option<i64>, Option<i64>), StoreError> {
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
    if account.kind.is_system() {
        if overdraft_minor.is_some() {
            return Err(StoreError::Invariant(
                "a system account has no floor, so no overdraft limit".into(),
            ));
        }
        return Ok((None, None));
    }
    let floor_minor = overdraft_minor
        .unwrap_or(0)
        .checked_neg()
        .ok_or_else(out_of_range)?;
    Ok((overdraft_minor, Some(floor_minor)))
}

/// Posts the opening balance against the user's equity account in its currency: the entry, its
/// two legs (checked to balance) and both balance rows, locked in account order.
async fn post_opening_balance(
    tx: &mut PgConnection,
    account: &NewAccount,
) -> Result<(), StoreError> {
    let currency = account.opening_balance.currency();
    let opening_minor = account.opening_balance.amount_minor();
    let equity =
        ensure_system_account(tx, account.user, AccountKind::Equity, currency.code()).await?;
    let transaction_id = TransactionId::from_uuid(account.operation_id.as_uuid());
    sql::query(
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
        sql::query("UPDATE account_balances SET posted_minor = posted_minor + $2, updated_at = now() WHERE account_id = $1")
            .bind(posting.account_id.as_uuid())
            .bind(posting.amount_minor)
            .execute(&mut *tx)
            .await?;
    }
    insert_postings(tx, transaction_id, account.user, &postings).await
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
    let created: Option<Uuid> = sql::query_scalar(
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
        sql::query(
            "INSERT INTO account_balances (account_id, user_id, floor_minor) VALUES ($1, $2, NULL)",
        )
        .bind(id)
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await?;
        return Ok(AccountId::from_uuid(id));
    }
    let id: Uuid = sql::query_scalar(
        "SELECT id FROM accounts WHERE user_id = $1 AND currency = $2 AND kind = $3",
    )
    .bind(user.as_uuid())
    .bind(currency)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await?;
    Ok(AccountId::from_uuid(id))
}
