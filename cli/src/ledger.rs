//! `djinn ledger verify`: every ledger invariant checked over the whole database
//! (`djinn_store::verify`), each violation printed on a line of its own. Exits non-zero when
//! there is any, so that a restore drill or a cron job can act on it.

use anyhow::Context;
use djinn_store::{db, verify};

/// Prints each violation and answers whether the ledger holds.
pub async fn verify(database_url: &str) -> anyhow::Result<bool> {
    let pool = db::connect(database_url, 2)
        .await
        .context("connecting to PostgreSQL")?;
    let violations = verify::ledger_violations(&pool).await?;
    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("the ledger holds: every invariant checked, no violation");
    } else {
        eprintln!("{} ledger violations", violations.len());
    }
    Ok(violations.is_empty())
}
