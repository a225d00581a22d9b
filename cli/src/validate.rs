//! Configuration fails fast: each role checks its whole configuration before it connects to
//! anything and, when something is wrong, exits naming every missing or malformed setting on
//! a line of its own, rather than the first one it happens to trip on. (A value clap cannot
//! parse at all, such as a mistyped DJINN_ENV, is refused by clap before this runs.)

use crate::config::{DatabaseSettings, RuntimeSettings};
use secrecy::{ExposeSecret, SecretString};

/// The problems found so far, one line each.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// The value, or `None` with its problem recorded.
    pub fn check<T>(&mut self, checked: anyhow::Result<T>) -> Option<T> {
        checked
            .map_err(|error| self.0.push(format!("{error:#}")))
            .ok()
    }

    /// Fails naming every problem, or passes when there is none.
    pub fn into_result(self, role: &str) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|problem| format!("  {problem}"))
            .collect();
        anyhow::bail!(
            "djinn {role} refuses its configuration ({} problems):\n{}",
            self.0.len(),
            lines.join("\n")
        )
    }
}

/// DATABASE_URL (or DATABASE_URL_FILE): present, a PostgreSQL URL, and in production one that
/// asks for TLS unless plaintext is explicitly allowed. Never repeats the URL, which may carry
/// a password.
pub fn database_url(
    database: &DatabaseSettings,
    runtime: Option<&RuntimeSettings>,
    problems: &mut Problems,
) -> Option<SecretString> {
    let url = problems.check(database.database_url())?;
    let Some(encrypted) = djinn_store::db::asks_for_tls(url.expose_secret()) else {
        problems.0.push(
            "DATABASE_URL is not a PostgreSQL URL (postgres://user@host/database)".to_owned(),
        );
        return None;
    };
    let production = runtime.is_some_and(RuntimeSettings::is_production);
    if production && !encrypted && !database.allow_plaintext {
        problems.0.push(
            "DATABASE_URL must ask for TLS in production (sslmode=require, verify-ca or \
             verify-full), or set DJINN_DATABASE_ALLOW_PLAINTEXT=true"
                .to_owned(),
        );
        return None;
    }
    Some(url)
}

/// The Temporal settings the SDK's envconfig reads (TEMPORAL_ADDRESS, TEMPORAL_API_KEY,
/// TEMPORAL_TLS_*, a profile file), loaded without connecting.
pub fn temporal(problems: &mut Problems) {
    problems.check(djinn_temporal::check_config().map_err(anyhow::Error::from));
}
