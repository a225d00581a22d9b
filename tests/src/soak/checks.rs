//! What must hold after the soak, read from its database: every transfer settled (POSTED or
//! VOIDED, none left pending), every ledger invariant (`djinn ledger verify`), money conserved
//! (the users' balances sum to their opening balances: every transfer moves money between two
//! of a user's accounts), and nothing posted twice.

use anyhow::{Context, bail, ensure};
use std::time::{Duration, Instant};

/// The transfers at the end, by status and code.
#[derive(Debug)]
pub struct Settled(pub Vec<(String, Option<String>, i64)>);

impl std::fmt::Display for Settled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(status, code, count)| match code {
                Some(code) => format!("{status} {code} {count}"),
                None => format!("{status} {count}"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

pub async fn settled(database_url: &str) -> anyhow::Result<Settled> {
    let pool = sqlx::PgPool::connect(database_url).await?;
    // Transfers left awaiting approval expire (DJINN_APPROVAL_TIMEOUT); orphans are swept.
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM operations WHERE status IN ('pending', 'awaiting_approval')",
        )
        .fetch_one(&pool)
        .await?;
        if open == 0 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(180),
            "{open} operations still pending 180 s after the soak"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    if !violations.is_empty() {
        let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
        bail!("the ledger is broken:\n{}", listed.join("\n"));
    }
    let (balances, openings): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT sum(b.posted_minor)::bigint FROM account_balances b
                   JOIN accounts a ON a.id = b.account_id WHERE a.kind NOT IN ('equity', 'clearing')),
                (SELECT sum(opening_minor)::bigint FROM account_openings)",
    )
    .fetch_one(&pool)
    .await?;
    ensure!(
        balances == openings,
        "the balances sum to {balances:?}, the openings to {openings:?}"
    );
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM operations o
          WHERE o.kind = 'transfer' AND o.status = 'posted'
            AND (SELECT count(*) FROM postings p WHERE p.transaction_id = o.id) <> 2",
    )
    .fetch_one(&pool)
    .await?;
    ensure!(
        twice == 0,
        "{twice} posted transfers do not have exactly two legs"
    );
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT status, failure_code, count(*) FROM operations WHERE kind = 'transfer'
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .context("counting the transfers")?;
    Ok(Settled(rows))
}
