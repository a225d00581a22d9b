//! The api role: the GraphQL server over the store and the Temporal client, and (unless
//! DJINN_API_RUNS_WORKFLOWS=false) a worker on that same client, so that the workflows the API
//! starts come back with their first task in the start's answer (Eager Workflow Start) and run
//! here, without the Temporal server dispatching that task to a worker.

use crate::config::{ApiSettings, RuntimeSettings, WorkerSettings};
use crate::metrics::Telemetry;
use crate::worker;
use anyhow::Context;
use djinn_graphql::{
    ApiConfig, AppState, Application, EmulatorTokenVerifier, FirebaseVerifier, TokenVerifier,
};
use djinn_store::changes::Changes;
use djinn_store::{PgPool, db};
use djinn_temporal::codec::EncryptionCodec;
use std::future::Future;
use std::sync::Arc;
use temporalio_client::{Client, NamespacedClient};
use tokio::sync::oneshot;

/// What the API's own worker needs. Its client must be the one the API starts workflows with:
/// the SDK hands an eager task only to a worker registered on the starting client.
pub struct ApiWorker {
    pub pool: PgPool,
    pub client: Client,
    pub task_queue: String,
    pub telemetry: Telemetry,
}

/// What the api is built from, besides its HTTP settings: `djinn api` fills it from the
/// environment, the test harness with a test's database, task queue and key.
pub struct Wiring<'a> {
    pub database_url: &'a str,
    /// The database's direct URL, for the subscriptions' LISTEN connection
    /// (DATABASE_LISTEN_URL); `None`: `database_url`, which must then not be a transaction-mode
    /// pooler's.
    pub listen_url: Option<&'a str>,
    pub pool_size: u32,
    /// The identity of the api's Temporal client (its worker's is derived from it).
    pub identity: &'a str,
    pub codec: Option<&'a EncryptionCodec>,
    pub task_queue: String,
    pub verifier: Arc<dyn TokenVerifier>,
    /// Whether the api runs a worker for the workflows it starts (DJINN_API_RUNS_WORKFLOWS).
    pub runs_workflows: bool,
    /// What the api and its worker count into, served at `/metrics`.
    pub telemetry: Telemetry,
}

/// Connections of the api's worker: its ledger steps never wait behind the GraphQL pool, so a
/// flood of reads cannot hold up money that is moving. Each step holds a connection for one
/// statement; the worker runs at most a few at once (its two workflow-task polls).
pub const API_WORKER_POOL_SIZE: u32 = 4;

/// What `build` makes: the application, listening, and the api's worker when it runs one.
pub struct Api {
    pub app: Application,
    pub worker: Option<ApiWorker>,
    /// The GraphQL pool (reads and registrations), apart from the worker's.
    pub pool: PgPool,
}

/// Connects to PostgreSQL and Temporal and builds the application, listening, with its worker
/// when the api runs workflows. Both share one Temporal client, as eager starts require; each
/// has a pool of its own.
pub async fn build(config: &ApiConfig, wiring: Wiring<'_>) -> anyhow::Result<Api> {
    let pool = db::connect(wiring.database_url, wiring.pool_size)
        .await
        .context("connecting to PostgreSQL")?;
    let client = djinn_temporal::connect_from_env(wiring.identity, wiring.codec).await?;
    wiring.telemetry.watch_pool("api", &pool);
    let changes = Changes::listen(wiring.listen_url.unwrap_or(wiring.database_url))
        .await
        .context("listening for the projections' changes (DATABASE_LISTEN_URL)")?;
    let state = AppState {
        pool: pool.clone(),
        temporal: client.clone(),
        task_queue: wiring.task_queue.clone(),
        verifier: wiring.verifier,
        metrics: wiring.telemetry.metrics.clone(),
        approval_timeout: config.approval_timeout,
        changes,
    };
    let app = Application::build(config, state).await?;
    let worker = if wiring.runs_workflows {
        let worker_pool = db::connect_as(
            wiring.database_url,
            API_WORKER_POOL_SIZE,
            "djinn-api-worker",
        )
        .await
        .context("connecting the api's worker to PostgreSQL")?;
        wiring.telemetry.watch_pool("api-worker", &worker_pool);
        Some(ApiWorker {
            pool: worker_pool,
            client,
            task_queue: wiring.task_queue,
            telemetry: wiring.telemetry,
        })
    } else {
        None
    };
    Ok(Api { app, worker, pool })
}

/// Serves `app` until `shutdown` resolves, with the API's worker beside it when `worker` is
/// given. On shutdown HTTP drains first, while the worker still takes the tasks of the starts
/// that drain makes; then the worker stops and lets its in-flight tasks finish. A worker that
/// fails does not take HTTP down: the API's starts then go to other workers, as the SDK makes
/// them ordinary. The returned future is not Send (the SDK's worker is not): await it from
/// `main` or a thread of its own.
pub async fn serve(
    app: Application,
    worker: Option<ApiWorker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(ApiWorker {
        pool,
        client,
        task_queue,
        telemetry,
    }) = worker
    else {
        return Ok(app.run_until_stopped(shutdown).await?);
    };
    let (stop_worker, http_stopped) = oneshot::channel::<()>();
    let serving = async move {
        let served = app.run_until_stopped(shutdown).await;
        let _ = stop_worker.send(());
        served
    };
    let mut settings = WorkerSettings::inside_api(&client.identity());
    settings.telemetry = Some(telemetry);
    let running = async {
        let stopped = async move {
            let _ = http_stopped.await;
        };
        if let Err(error) = worker::run(pool, client, &task_queue, &settings, stopped).await {
            tracing::error!(%error, "the api's worker stopped: its starts go to other workers");
        }
    };
    let (served, ()) = tokio::join!(serving, running);
    Ok(served?)
}

/// The Firebase project of `make dev` (its emulator accepts any).
const DEVELOPMENT_PROJECT_ID: &str = "djinn-dev";

/// The token verifier the settings allow. Unsigned emulator tokens let anyone act as anyone,
/// so they are accepted only in development and only while the api listens on a loopback
/// address; otherwise setting FIREBASE_AUTH_EMULATOR_HOST refuses to start.
pub fn verifier(
    settings: &ApiSettings,
    runtime: &RuntimeSettings,
) -> anyhow::Result<Arc<dyn TokenVerifier>> {
    let listen_addr = settings.listen_addr();
    if settings.firebase_auth_emulator_host.is_some() && runtime.is_production() {
        anyhow::bail!("FIREBASE_AUTH_EMULATOR_HOST must not be set when DJINN_ENV=production")
    }
    let project_id = match (&settings.firebase_project_id, runtime.is_production()) {
        (Some(project), _) => project.clone(),
        (None, true) => anyhow::bail!("FIREBASE_PROJECT_ID must be set when DJINN_ENV=production"),
        (None, false) => DEVELOPMENT_PROJECT_ID.to_owned(),
    };
    match (
        &settings.firebase_auth_emulator_host,
        runtime.is_production(),
    ) {
        (Some(_), true) => {
            anyhow::bail!("FIREBASE_AUTH_EMULATOR_HOST must not be set when DJINN_ENV=production")
        }
        (Some(_), false) if !listen_addr.ip().is_loopback() => anyhow::bail!(
            "FIREBASE_AUTH_EMULATOR_HOST is accepted only on a loopback address, not {listen_addr}"
        ),
        (Some(host), false) => {
            tracing::warn!(%host, "accepting unsigned Firebase-emulator tokens (development only)");
            Ok(Arc::new(EmulatorTokenVerifier::new(project_id.clone())))
        }
        (None, _) => Ok(Arc::new(FirebaseVerifier::new(
            project_id.clone(),
            settings.firebase_jwks_url.clone(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn settings(
        environment: Environment,
        emulator: Option<&str>,
        listen: &str,
    ) -> (ApiSettings, RuntimeSettings) {
        let api = ApiSettings {
            api_addr: Some(listen.parse().expect("an address")),
            port: None,
            firebase_project_id: Some("djinn-dev".into()),
            firebase_jwks_url: djinn_graphql::FIREBASE_JWKS_URL.into(),
            firebase_auth_emulator_host: emulator.map(str::to_owned),
            ops_token: None,
            ops_token_file: None,
            codec_cors_origins: Vec::new(),
            cors_origins: Vec::new(),
            request_timeout_ms: 10_000,
            rate_limit_per_minute: 600,
            runs_workflows: true,
            approval_timeout: djinn_graphql::DEFAULT_APPROVAL_TIMEOUT,
            database_listen_url: None,
            upload_max_bytes: djinn_graphql::DEFAULT_UPLOAD_MAX_BYTES,
        };
        (api, RuntimeSettings { environment })
    }

    fn verify(settings: (ApiSettings, RuntimeSettings)) -> anyhow::Result<Arc<dyn TokenVerifier>> {
        verifier(&settings.0, &settings.1)
    }

    #[test]
    fn djinn_api_addr_wins_over_port_which_wins_over_the_default() {
        let (mut api, _) = settings(Environment::Production, None, "10.0.0.5:9000");
        api.port = Some(7000);
        assert_eq!(api.listen_addr().to_string(), "10.0.0.5:9000");
        api.api_addr = None;
        assert_eq!(api.listen_addr().to_string(), "0.0.0.0:7000");
        api.port = None;
        assert_eq!(api.listen_addr().to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn emulator_tokens_only_in_development_on_a_loopback_address() {
        use Environment::{Development, Production};
        let emulator = Some("127.0.0.1:9099");
        assert!(verify(settings(Production, emulator, "127.0.0.1:0")).is_err());
        assert!(verify(settings(Production, None, "0.0.0.0:8080")).is_ok());
        assert!(verify(settings(Development, emulator, "127.0.0.1:0")).is_ok());
        assert!(verify(settings(Development, emulator, "[::1]:8080")).is_ok());
        let open = verify(settings(Development, emulator, "0.0.0.0:8080"));
        assert!(open.is_err_and(|e| e.to_string().contains("0.0.0.0:8080")));
    }

    #[test]
    fn production_names_its_firebase_project() {
        use Environment::{Development, Production};
        let (mut api, runtime) = settings(Production, None, "0.0.0.0:8080");
        api.firebase_project_id = None;
        let unnamed = verifier(&api, &runtime);
        assert!(unnamed.is_err_and(|e| e.to_string().contains("FIREBASE_PROJECT_ID")));
        let (mut api, runtime) = settings(Development, None, "127.0.0.1:8080");
        api.firebase_project_id = None;
        assert!(verifier(&api, &runtime).is_ok());
    }

    #[test]
    fn open_codec_endpoints_only_on_a_loopback_address() -> anyhow::Result<()> {
        use Environment::{Development, Production};
        let codec = djinn_temporal::codec::EncryptionCodec::from_keys(
            &"k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
                .to_owned()
                .into(),
        )?;
        let (api, runtime) = settings(Development, None, "0.0.0.0:8080");
        let refused = api.api_config(&runtime, Some(codec.clone()));
        assert!(refused.is_err_and(|e| e.to_string().contains("DJINN_OPS_TOKEN")));
        let (mut guarded, runtime) = settings(Development, None, "0.0.0.0:8080");
        guarded.ops_token = Some("an ops token".to_owned().into());
        assert!(guarded.api_config(&runtime, Some(codec.clone())).is_ok());
        let (local, runtime) = settings(Development, None, "127.0.0.1:8080");
        assert!(local.api_config(&runtime, Some(codec.clone())).is_ok());
        // Production serves no codec endpoint without a token: nothing is left open.
        let (api, runtime) = settings(Production, None, "0.0.0.0:8080");
        assert!(api.api_config(&runtime, Some(codec)).is_ok());
        Ok(())
    }
}
