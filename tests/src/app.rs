//! The stack in-process: a fresh database and task queue per test, the api on a thread of its
//! own built exactly as `djinn api` builds itself (`djinn::api::build`), and `djinn worker`s on
//! threads of their own.

use crate::{PROJECT_ID, admin_database_url, pooler_url, test_codec};
use anyhow::Context;
use djinn_graphql::{ApiConfig, EmulatorTokenVerifier};
use djinn_store::{PgPool, db};
use std::sync::Arc;
use tokio::sync::oneshot;

/// `url` (a server's, ending in /<database>) naming `database` instead.
fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a database URL ends with /<database>");
    format!("{base}/{database}")
}

/// A new, migrated database of its own.
pub async fn fresh_database() -> anyhow::Result<(String, PgPool)> {
    let (url, pool) = empty_database().await?;
    db::migrate(&pool).await?;
    Ok((url, pool))
}

/// A new database of its own, not migrated yet: for a test that prepares it first.
pub async fn empty_database() -> anyhow::Result<(String, PgPool)> {
    let admin_url = admin_database_url();
    let name = format!("djinn_test_{}", uuid::Uuid::now_v7().simple());
    let admin = db::connect(&admin_url, 1)
        .await
        .context("connecting to the test PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let url = with_database(&admin_url, &name);
    let pool = db::connect(&url, 60).await?;
    Ok((url, pool))
}

/// A worker running on its own thread until dropped.
#[derive(Debug)]
pub struct WorkerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerThread {
    pub fn start(database_url: &str, task_queue: &str) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let (database_url, task_queue) = (database_url.to_owned(), task_queue.to_owned());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let pool = db::connect(&database_url, 20)
                    .await
                    .expect("worker connects to PostgreSQL");
                let client =
                    djinn_temporal::connect_from_env("djinn-test-worker", Some(&test_codec()))
                        .await
                        .expect("worker connects to Temporal");
                let settings = djinn::config::WorkerSettings::default();
                djinn::worker::run(pool, client, &task_queue, &settings, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("worker runs");
            });
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `djinn api` on a thread of its own (its worker, like the SDK's every worker, is not Send),
/// serving until dropped.
#[derive(Debug)]
struct ApiThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiThread {
    /// Serves `config` on the test's database and task queue, as `djinn api` does: with its own
    /// worker on its own Temporal client when `runs_workflows`. Returns once it listens.
    async fn start(
        config: ApiConfig,
        (database_url, listen_url): (&str, &str),
        task_queue: &str,
        runs_workflows: bool,
    ) -> anyhow::Result<(Self, String, PgPool)> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (listening, address) = oneshot::channel::<anyhow::Result<(String, PgPool)>>();
        let (database_url, task_queue) = (database_url.to_owned(), task_queue.to_owned());
        let listen_url = listen_url.to_owned();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let built = async {
                    let codec = test_codec();
                    let wiring = djinn::api::Wiring {
                        database_url: &database_url,
                        // LISTEN needs a session: direct, not through the pooler.
                        listen_url: Some(&listen_url),
                        pool_size: 20,
                        identity: "djinn-test-api",
                        codec: Some(&codec),
                        task_queue,
                        verifier: Arc::new(EmulatorTokenVerifier::new(PROJECT_ID)),
                        runs_workflows,
                        telemetry: djinn::metrics::Telemetry::start()?,
                    };
                    let api = djinn::api::build(&config, wiring).await?;
                    let address = format!("http://{}", api.app.local_addr()?);
                    anyhow::Ok((api, address))
                };
                match built.await {
                    Ok((
                        djinn::api::Api {
                            app: application,
                            worker,
                            pool,
                        },
                        address,
                    )) => {
                        let _ = listening.send(Ok((address, pool)));
                        djinn::api::serve(application, worker, async move {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("the api serves");
                    }
                    Err(error) => {
                        let _ = listening.send(Err(error));
                    }
                }
            });
        });
        let (address, pool) = address.await.context("the api thread ended")??;
        Ok((
            Self {
                stop: Some(stop),
                thread: Some(thread),
            },
            address,
            pool,
        ))
    }
}

impl Drop for ApiThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // It needs nothing of the test's runtime to stop, so waiting here cannot deadlock; a
        // panic of its own has been printed already.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Debug)]
pub struct TestApp {
    /// Base URL of the API, e.g. http://127.0.0.1:41234
    pub address: String,
    /// The URL the stack's processes use: through the test PgBouncer, in transaction mode.
    pub database_url: String,
    /// A pool on the test's database, for reading the ledger back.
    pub db: PgPool,
    pub task_queue: String,
    /// The test's own Temporal client (the API has its own, as in production).
    pub temporal: temporalio_client::Client,
    pub http: reqwest::Client,
    /// A `djinn worker`, beside the one inside the API.
    pub worker: Option<WorkerThread>,
    /// The API's GraphQL pool (its reads and registrations; its worker has a pool of its own),
    /// for a test that takes it over. Its connections belong to the API's runtime: hold them,
    /// never query through them.
    pub api_pool: PgPool,
    _api: ApiThread,
}

/// The whole stack as deployed: the API, running the workflows it starts (eagerly started, so
/// their first task comes back with the start) with its own worker, and a `djinn worker` for
/// every other task.
pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(|_| {}).await
}

/// The whole stack, with API settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ApiConfig)) -> anyhow::Result<TestApp> {
    let mut app = spawn_api_with(configure, true).await?;
    app.worker = Some(WorkerThread::start(&app.database_url, &app.task_queue));
    Ok(app)
}

/// The API alone (`DJINN_API_RUNS_WORKFLOWS=false`), on a fresh database and task queue: every
/// workflow task waits for a worker, which tests that manage workers themselves start.
pub async fn spawn_api() -> anyhow::Result<TestApp> {
    spawn_api_with(|_| {}, false).await
}

/// The API with its own worker and no `djinn worker`: every workflow runs in the API.
pub async fn spawn_api_running_workflows() -> anyhow::Result<TestApp> {
    spawn_api_with(|_| {}, true).await
}

async fn spawn_api_with(
    configure: impl FnOnce(&mut ApiConfig),
    runs_workflows: bool,
) -> anyhow::Result<TestApp> {
    djinn::telemetry::init();
    let (direct_url, pool) = fresh_database().await?;
    // The stack's processes reach the database through the pooler; the test's own pool (`db`)
    // goes direct, as an operator's would.
    let database = direct_url
        .rsplit_once('/')
        .map(|(_, name)| name)
        .unwrap_or_default();
    let database_url = with_database(&format!("{}/", pooler_url()), database);
    let task_queue = format!("djinn-test-{}", uuid::Uuid::now_v7().simple());
    let temporal = djinn_temporal::connect_from_env("djinn-test", Some(&test_codec())).await?;
    djinn_temporal::register_search_attributes(&temporal).await?;
    let mut config = ApiConfig::new("127.0.0.1:0".parse()?);
    config.codec = Some(test_codec());
    config.codec_cors_origins = vec!["http://127.0.0.1:8233".to_owned()];
    configure(&mut config);
    let (api, address, api_pool) = ApiThread::start(
        config,
        (&database_url, &direct_url),
        &task_queue,
        runs_workflows,
    )
    .await?;
    Ok(TestApp {
        address,
        database_url,
        db: pool,
        task_queue,
        temporal,
        http: reqwest::Client::new(),
        worker: None,
        api_pool,
        _api: api,
    })
}

impl TestApp {
    /// The client's checking account with `opening` USD and an empty savings account, opened
    /// by a worker that is stopped afterwards: for an app without a worker of its own
    /// (`spawn_api`), whose next workflow task waits for whatever worker the test starts.
    pub async fn accounts_then_no_worker(
        &self,
        client: &crate::Client,
        opening: &str,
    ) -> anyhow::Result<(String, String)> {
        let opener = WorkerThread::start(&self.database_url, &self.task_queue);
        let accounts = client.checking_and_savings(opening).await?;
        opener.stop();
        Ok(accounts)
    }

    /// A GraphQL client of this app, signed in as the emulator user `uid`.
    pub fn client(&self, uid: &str) -> crate::Client {
        crate::Client::new(&self.address, uid, self.http.clone())
    }
}
