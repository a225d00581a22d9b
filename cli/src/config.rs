//! Settings from the environment (12-factor), each documented in `.env.example`.

//! Secrets (the database URL, codec keys, the ops token) are `SecretString`s: their Debug output
//! is redacted, so they cannot be logged by accident, and clap never echoes their values. Each
//! can also come from a file named by `<NAME>_FILE`, as container platforms mount secrets.

use clap::Args;
use djinn_temporal::codec::EncryptionCodec;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret given directly, or read from the file named for it (trailing newline dropped). An
/// empty value is no value: `DJINN_OPS_TOKEN=` must not turn into a token that an empty bearer
/// matches.
pub(crate) fn secret(
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
    name: &str,
) -> anyhow::Result<Option<SecretString>> {
    let value = &value
        .clone()
        .filter(|value| !value.expose_secret().trim().is_empty());
    let file = &file.clone().filter(|path| !path.as_os_str().is_empty());
    let read = match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!("set {name} or {name}_FILE, not both"),
        (Some(value), None) => Some(value.clone()),
        (None, Some(path)) => Some(read_secret_file(path, name)?),
        (None, None) => None,
    };
    Ok(read.filter(|value| !value.expose_secret().trim().is_empty()))
}

fn read_secret_file(path: &Path, name: &str) -> anyhow::Result<SecretString> {
    let contents = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {name}_FILE {}: {e}", path.display()))?;
    Ok(SecretString::from(
        contents.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// Where Djinn runs. Production is the default: a missing or mistyped DJINN_ENV must never
/// turn on a development convenience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// DJINN_ENV's two values; anything else refuses to start, naming what it was given.
fn parse_environment(value: &str) -> Result<Environment, String> {
    match value {
        "development" => Ok(Environment::Development),
        "production" => Ok(Environment::Production),
        other => Err(format!(
            "DJINN_ENV must be development or production, not {other:?}"
        )),
    }
}

#[derive(Args, Debug, Clone)]
pub struct RuntimeSettings {
    /// `development` or `production` (the default). Production refuses development
    /// conveniences: emulator tokens, introspection, GraphiQL, unencrypted workflow payloads,
    /// an open codec endpoint. Development allows emulator tokens and an open codec endpoint
    /// only while the api listens on a loopback address.
    #[arg(long, env = "DJINN_ENV", default_value = "production", value_parser = parse_environment)]
    pub environment: Environment,
}

impl RuntimeSettings {
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

#[derive(Args, Debug, Clone)]
pub struct CodecSettings {
    /// Keys that encrypt workflow payloads: `id:base64(32 bytes)`, comma-separated, the
    /// current key first. Required in production.
    #[arg(long, env = "DJINN_CODEC_KEYS", hide_env_values = true)]
    pub codec_keys: Option<SecretString>,
    #[arg(long, env = "DJINN_CODEC_KEYS_FILE")]
    pub codec_keys_file: Option<PathBuf>,
}

impl CodecSettings {
    pub fn codec(&self, runtime: &RuntimeSettings) -> anyhow::Result<Option<EncryptionCodec>> {
        match secret(&self.codec_keys, &self.codec_keys_file, "DJINN_CODEC_KEYS")? {
            Some(keys) => Ok(Some(EncryptionCodec::from_keys(&keys)?)),
            None if runtime.is_production() => {
                anyhow::bail!("DJINN_CODEC_KEYS must be set when DJINN_ENV=production")
            }
            None => {
                tracing::warn!(
                    "DJINN_CODEC_KEYS is not set: workflow payloads are not encrypted (development only)"
                );
                Ok(None)
            }
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL (TLS via `sslmode=require` in the URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    #[arg(long, env = "DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Connections per process.
    #[arg(long, env = "DJINN_DB_POOL_SIZE", default_value_t = djinn_store::db::DEFAULT_POOL_SIZE)]
    pub pool_size: u32,
    /// `true` lets a production process reach PostgreSQL without TLS (a database on the same
    /// private network, say); without it production refuses a URL that does not ask for TLS.
    #[arg(long, env = "DJINN_DATABASE_ALLOW_PLAINTEXT", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_plaintext: bool,
}

impl DatabaseSettings {
    pub fn database_url(&self) -> anyhow::Result<SecretString> {
        secret(&self.database_url, &self.database_url_file, "DATABASE_URL")?
            .ok_or_else(|| anyhow::anyhow!("DATABASE_URL (or DATABASE_URL_FILE) must be set"))
    }
}

#[derive(Args, Debug, Clone)]
pub struct TemporalSettings {
    /// The task queue shared by the API (which starts workflows) and the worker (which runs
    /// them). Temporal's address, namespace and credentials come from the SDK's envconfig:
    /// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*.
    #[arg(long, env = "DJINN_TASK_QUEUE", default_value = "djinn")]
    pub task_queue: String,
}

/// How the worker polls Temporal. Every Djinn workflow starts with a task on the task queue's
/// normal (non-sticky) queue, and a transfer finishes within that first task, so the normal
/// queue carries nearly all the work. The SDK's defaults (five pollers, a fifth of them on the
/// normal queue) leave one poll open there: tasks then wait in the server's backlog for it.
#[derive(Args, Debug, Clone)]
pub struct WorkerSettings {
    /// Workflow-task polls open at once, across the normal and the sticky queue.
    #[arg(long, env = "DJINN_WORKFLOW_TASK_POLLERS", default_value_t = WorkerSettings::default().workflow_task_pollers)]
    pub workflow_task_pollers: usize,
    /// The share of those polls on the normal queue (0 to 1].
    #[arg(long, env = "DJINN_NONSTICKY_POLL_RATIO", default_value_t = WorkerSettings::default().nonsticky_poll_ratio)]
    pub nonsticky_poll_ratio: f32,
    /// Activity-task polls open at once (only settling steps that outlived their local retries
    /// run as regular activities).
    #[arg(long, env = "DJINN_ACTIVITY_TASK_POLLERS", default_value_t = WorkerSettings::default().activity_task_pollers)]
    pub activity_task_pollers: usize,
    /// The identity the worker shows in histories, when not its client's.
    #[arg(skip)]
    pub identity: Option<String>,
    /// Where the worker answers probes (/healthz, /readyz) and serves /metrics, e.g.
    /// 0.0.0.0:9090: an address operators reach, not the public. Unset: nowhere.
    #[arg(long, env = "DJINN_METRICS_ADDR")]
    pub probe_addr: Option<std::net::SocketAddr>,
    /// What the worker measures with; `None`: metrics of its own, unserved, and no SDK meter.
    #[arg(skip)]
    pub telemetry: Option<crate::metrics::Telemetry>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workflow_task_pollers: 16,
            nonsticky_poll_ratio: 0.5,
            activity_task_pollers: 2,
            identity: None,
            probe_addr: None,
            telemetry: None,
        }
    }
}

impl WorkerSettings {
    /// The SDK refuses fewer workflow-task polls than one on the normal queue and one on the
    /// worker's sticky queue.
    const FEWEST_WORKFLOW_TASK_POLLERS: usize = 2;
    const FEWEST_ACTIVITY_TASK_POLLERS: usize = 1;

    /// The worker inside the api: its work arrives with the starts it makes, so it keeps the
    /// fewest polls the SDK allows (one on the normal queue, one on its sticky queue) and takes
    /// other tasks only when they come its way. Its identity is the api's with `/workflows`:
    /// in a history, the first workflow task of an eagerly started run shows the api (the
    /// starter) as the one that started it, and this worker as the one that completed it.
    pub fn inside_api(api_identity: &str) -> Self {
        Self {
            workflow_task_pollers: Self::FEWEST_WORKFLOW_TASK_POLLERS,
            nonsticky_poll_ratio: 0.5,
            activity_task_pollers: Self::FEWEST_ACTIVITY_TASK_POLLERS,
            identity: Some(format!("{api_identity}/workflows")),
            probe_addr: None,
            telemetry: None,
        }
    }
}

/// The worker's sweeper (`djinn_activities::sweeper`): how often it looks for operations
/// their workflows left pending, and how long one must have been untouched before it does.
#[derive(Args, Debug, Clone)]
pub struct SweeperConfig {
    #[arg(long, env = "DJINN_SWEEP_INTERVAL_MS", default_value_t = 30_000)]
    pub sweep_interval_ms: u64,
    #[arg(long, env = "DJINN_SWEEP_AFTER_MS", default_value_t = 60_000)]
    pub sweep_after_ms: u64,
}

impl SweeperConfig {
    pub fn settings(&self) -> djinn_activities::sweeper::SweeperSettings {
        djinn_activities::sweeper::SweeperSettings {
            interval: std::time::Duration::from_millis(self.sweep_interval_ms),
            quiet_for: std::time::Duration::from_millis(self.sweep_after_ms),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ApiSettings {
    /// Where the API listens. Unset: 0.0.0.0:$PORT when PORT is set (Railway, Cloud Run, Fly),
    /// else 127.0.0.1:8080.
    #[arg(long, env = "DJINN_API_ADDR")]
    pub api_addr: Option<SocketAddr>,
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
    /// The Firebase project whose ID tokens are accepted. Required in production: a default
    /// would accept the tokens of whoever owns the project it names. In development it is
    /// `djinn-dev` unless set.
    #[arg(long, env = "FIREBASE_PROJECT_ID")]
    pub firebase_project_id: Option<String>,
    /// Where the keys that sign Firebase ID tokens are published (JWKS).
    #[arg(long, env = "FIREBASE_JWKS_URL", default_value = djinn_graphql::FIREBASE_JWKS_URL)]
    pub firebase_jwks_url: String,
    /// Set (to the emulator's host:port) to accept unsigned Firebase-emulator tokens.
    #[arg(long, env = "FIREBASE_AUTH_EMULATOR_HOST")]
    pub firebase_auth_emulator_host: Option<String>,
    /// The bearer token operations staff (or the proxy in front of the Temporal UI) present to
    /// the codec endpoints. Without it they are open in development and off in production.
    #[arg(long, env = "DJINN_OPS_TOKEN", hide_env_values = true)]
    pub ops_token: Option<SecretString>,
    #[arg(long, env = "DJINN_OPS_TOKEN_FILE")]
    pub ops_token_file: Option<PathBuf>,
    /// Origins of the Temporal UI allowed to call the codec endpoints, comma-separated.
    #[arg(
        long,
        env = "DJINN_CODEC_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8233,http://localhost:8233"
    )]
    pub codec_cors_origins: Vec<String>,
    /// Browser origins allowed to call the API (CORS), comma-separated.
    #[arg(
        long,
        env = "DJINN_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,
    /// Longest a request may take before it is answered 408.
    #[arg(long, env = "DJINN_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Requests per minute per user (bursts of the same size); beyond it, 429 with Retry-After.
    #[arg(long, env = "DJINN_RATE_LIMIT_PER_MINUTE", default_value_t = djinn_graphql::limits::DEFAULT_RATE_LIMIT_PER_MINUTE)]
    pub rate_limit_per_minute: u32,
    /// Whether the api also runs workflows: those it starts come back with their first
    /// workflow task in the start's answer (Eager Workflow Start), which spares the Temporal
    /// server the task's dispatch. `false` leaves every task to `djinn worker`.
    #[arg(long, env = "DJINN_API_RUNS_WORKFLOWS", default_value_t = true, action = clap::ArgAction::Set)]
    pub runs_workflows: bool,
    /// The database's direct URL for the subscriptions' LISTEN connection, when DATABASE_URL
    /// goes through a pooler in transaction mode (PgBouncer), which cannot hold a LISTEN.
    #[arg(long, env = "DATABASE_LISTEN_URL", hide_env_values = true)]
    pub database_listen_url: Option<SecretString>,
    /// How long a transfer at or over its owner's approval threshold waits for approval before
    /// it is voided (APPROVAL_EXPIRED), as `24h`, `90m`, `30s`.
    #[arg(long, env = "DJINN_APPROVAL_TIMEOUT", default_value = "24h", value_parser = humantime::parse_duration)]
    pub approval_timeout: std::time::Duration,
    /// The largest statement file `importStatement` accepts, in bytes; a larger upload is
    /// answered 413.
    #[arg(long, env = "DJINN_UPLOAD_MAX_BYTES", default_value_t = djinn_graphql::DEFAULT_UPLOAD_MAX_BYTES)]
    pub upload_max_bytes: usize,
}

impl ApiSettings {
    pub fn listen_addr(&self) -> SocketAddr {
        match (self.api_addr, self.port) {
            (Some(addr), _) => addr,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }

    pub fn api_config(
        &self,
        runtime: &RuntimeSettings,
        codec: Option<EncryptionCodec>,
    ) -> anyhow::Result<djinn_graphql::ApiConfig> {
        let ops_token = secret(&self.ops_token, &self.ops_token_file, "DJINN_OPS_TOKEN")?;
        let listen_addr = self.listen_addr();
        if codec.is_some() && ops_token.is_none() && !listen_addr.ip().is_loopback() {
            // Production does not serve them without a token; development would serve them
            // open, which only a loopback address keeps to this machine.
            if !runtime.is_production() {
                anyhow::bail!(
                    "DJINN_OPS_TOKEN must be set: without it the codec endpoints are open, which \
                     development allows only on a loopback address, not {listen_addr}"
                );
            }
        }
        Ok(djinn_graphql::ApiConfig {
            listen_addr,
            production: runtime.is_production(),
            codec,
            ops_token,
            codec_cors_origins: self.codec_cors_origins.clone(),
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            rate_limit_per_minute: self.rate_limit_per_minute,
            approval_timeout: self.approval_timeout,
            upload_max_bytes: self.upload_max_bytes,
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
