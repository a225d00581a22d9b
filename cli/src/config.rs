//! Settings from the environment (12-factor), each documented in `.env.example`.

use clap::Args;
use std::net::SocketAddr;

#[derive(Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL (TLS via `sslmode=require` in the URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Connections per process.
    #[arg(long, env = "DJINN_DB_POOL_SIZE", default_value_t = djinn_activities::db::DEFAULT_POOL_SIZE)]
    pub pool_size: u32,
}

#[derive(Args, Debug, Clone)]
pub struct TemporalSettings {
    /// The task queue shared by the API (which starts workflows) and the worker (which runs
    /// them). Temporal's address, namespace and credentials come from the SDK's envconfig:
    /// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*.
    #[arg(long, env = "DJINN_TASK_QUEUE", default_value = "djinn")]
    pub task_queue: String,
}

#[derive(Args, Debug, Clone)]
pub struct ApiSettings {
    /// Where the API listens. When PORT is set (as on Railway), 0.0.0.0:$PORT wins.
    #[arg(long, env = "DJINN_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
    /// The Firebase project whose ID tokens are accepted.
    #[arg(long, env = "FIREBASE_PROJECT_ID", default_value = "djinn-dev")]
    pub firebase_project_id: String,
    /// Where the keys that sign Firebase ID tokens are published (JWKS).
    #[arg(long, env = "FIREBASE_JWKS_URL", default_value = djinn_graphql::FIREBASE_JWKS_URL)]
    pub firebase_jwks_url: String,
    /// Set (to the emulator's host:port) to accept unsigned Firebase-emulator tokens.
    #[arg(long, env = "FIREBASE_AUTH_EMULATOR_HOST")]
    pub firebase_auth_emulator_host: Option<String>,
    /// `production` refuses development conveniences: emulator tokens, introspection, GraphiQL.
    #[arg(long, env = "DJINN_ENV", default_value = "development")]
    pub environment: String,
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
}

impl ApiSettings {
    pub fn listen_addr(&self) -> SocketAddr {
        match self.port {
            Some(port) => SocketAddr::from(([0, 0, 0, 0], port)),
            None => self.api_addr,
        }
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    pub fn api_config(&self) -> djinn_graphql::ApiConfig {
        djinn_graphql::ApiConfig {
            listen_addr: self.listen_addr(),
            production: self.is_production(),
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            rate_limit_per_minute: self.rate_limit_per_minute,
        }
    }
}
