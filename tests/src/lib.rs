//! The test harness: `spawn_app()` gives each test a fresh database, its own task queue, the
//! real API on a random port with its own worker (it runs the workflows it starts, as deployed)
//! and a real `djinn worker` beside it, each on a thread of its own (the SDK's worker is not
//! Send), all against the Temporal dev server and PostgreSQL that `make test` starts;
//! `spawn_api()` gives the API without any worker, for tests that start and kill workers
//! themselves. Tests then talk GraphQL over HTTP as a client would.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use djinn_activities::codec::EncryptionCodec;
use djinn_activities::{db, temporal};
use djinn_domain::{
    AccountId, IdempotencyKey, OperationId, TransferRequest, UserId, transfer_workflow_id,
};
use djinn_graphql::{ApiConfig, AppState, Application, EmulatorTokenVerifier};
use djinn_workflows::{TransferInput, TransferWorkflow};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_client::WorkflowStartOptions;
use tokio::sync::oneshot;

/// The payload key of every test stack (tests only): histories are encrypted in tests as in
/// production, so the tests see what production sees. The recorded histories under
/// `tests/histories/` are encrypted with it too: a new key needs them re-recorded (or this one
/// kept beside it, as production keeps retired keys).
pub const TEST_CODEC_KEYS: &str = "test:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub fn test_codec() -> EncryptionCodec {
    EncryptionCodec::from_keys(&TEST_CODEC_KEYS.to_owned().into()).expect("the test key is valid")
}

/// How long a test waits for a workflow to reach a state before it fails.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const PROJECT_ID: &str = "djinn-test";

/// The admin URL of the PostgreSQL server tests create their databases in.
pub fn admin_database_url() -> String {
    std::env::var("DJINN_TEST_DATABASE_URL")
        .expect("DJINN_TEST_DATABASE_URL is set by `make test` (scripts/test.sh)")
}

fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a database URL ends with /<database>");
    format!("{base}/{database}")
}

/// A new, migrated database of its own.
pub async fn fresh_database() -> anyhow::Result<(String, PgPool)> {
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
    db::migrate(&pool).await?;
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
                let client = temporal::connect_from_env("djinn-test-worker", Some(&test_codec()))
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
        database_url: &str,
        task_queue: &str,
        runs_workflows: bool,
    ) -> anyhow::Result<(Self, String)> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (listening, address) = oneshot::channel::<anyhow::Result<String>>();
        let (database_url, task_queue) = (database_url.to_owned(), task_queue.to_owned());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let built = async {
                    let pool = db::connect(&database_url, 20).await?;
                    let client =
                        temporal::connect_from_env("djinn-test-api", Some(&test_codec())).await?;
                    let state = AppState {
                        pool: pool.clone(),
                        temporal: client.clone(),
                        task_queue: task_queue.clone(),
                        verifier: Arc::new(EmulatorTokenVerifier::new(PROJECT_ID)),
                    };
                    let application = Application::build(&config, state).await?;
                    let address = format!("http://{}", application.local_addr()?);
                    let worker = runs_workflows.then(|| djinn::api::ApiWorker {
                        pool,
                        client,
                        task_queue,
                    });
                    anyhow::Ok((application, worker, address))
                };
                match built.await {
                    Ok((application, worker, address)) => {
                        let _ = listening.send(Ok(address));
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
        let address = address.await.context("the api thread ended")??;
        Ok((
            Self {
                stop: Some(stop),
                thread: Some(thread),
            },
            address,
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
    pub database_url: String,
    /// A pool on the test's database, for reading the ledger back.
    pub db: PgPool,
    pub task_queue: String,
    /// The test's own Temporal client (the API has its own, as in production).
    pub temporal: temporalio_client::Client,
    pub http: reqwest::Client,
    /// A `djinn worker`, beside the one inside the API.
    pub worker: Option<WorkerThread>,
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

async fn spawn_api_with(
    configure: impl FnOnce(&mut ApiConfig),
    runs_workflows: bool,
) -> anyhow::Result<TestApp> {
    djinn::telemetry::init();
    let (database_url, pool) = fresh_database().await?;
    let task_queue = format!("djinn-test-{}", uuid::Uuid::now_v7().simple());
    let temporal = temporal::connect_from_env("djinn-test", Some(&test_codec())).await?;
    temporal::register_search_attributes(&temporal).await?;
    let mut config = ApiConfig::new("127.0.0.1:0".parse()?);
    config.codec = Some(test_codec());
    config.codec_cors_origins = vec!["http://127.0.0.1:8233".to_owned()];
    configure(&mut config);
    let (api, address) =
        ApiThread::start(config, &database_url, &task_queue, runs_workflows).await?;
    Ok(TestApp {
        address,
        database_url,
        db: pool,
        task_queue,
        temporal,
        http: reqwest::Client::new(),
        worker: None,
        _api: api,
    })
}

/// An unsigned Firebase-emulator token for `uid`, as the emulator issues them.
pub fn token_for(uid: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    unsigned_token(
        &json!({"iss": format!("https://securetoken.google.com/{PROJECT_ID}"), "aud": PROJECT_ID,
        "sub": uid, "iat": now, "exp": now + 3600}),
    )
}

/// An unsigned token with exactly these claims.
pub fn unsigned_token(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// A signed-in GraphQL client of the test app.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl TestApp {
    pub fn client(&self, uid: &str) -> Client {
        Client {
            address: self.address.clone(),
            token: token_for(uid),
            http: self.http.clone(),
        }
    }

    /// Every posting of every transaction balances, and every account's posted balance equals
    /// the sum of its posted postings: the ledger read back.
    pub async fn assert_ledger_consistent(&self) -> anyhow::Result<()> {
        let unbalanced: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT transaction_id, currency FROM postings GROUP BY 1, 2 HAVING sum(amount_minor) <> 0) t",
        )
        .fetch_one(&self.db)
        .await?;
        if unbalanced != 0 {
            bail!("{unbalanced} transactions have postings that do not sum to zero");
        }
        let drifted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM account_balances b
              WHERE b.posted_minor <> coalesce((SELECT sum(p.amount_minor) FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                                 WHERE p.account_id = b.account_id AND t.status = 'posted'), 0)
                 OR b.pending_debit_minor <> coalesce((SELECT -sum(p.amount_minor) FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                                 WHERE p.account_id = b.account_id AND t.status = 'pending' AND p.amount_minor < 0), 0)",
        )
        .fetch_one(&self.db)
        .await?;
        if drifted != 0 {
            bail!("{drifted} balance rows disagree with their postings");
        }
        Ok(())
    }

    /// Starts a transfer's workflow directly, as the API would but without its checks, so that
    /// a test can hand the workflow what the API refuses or a ledger already moved; returns the
    /// workflow id.
    pub async fn start_transfer_workflow(
        &self,
        user: UserId,
        transfer_id: OperationId,
        key: &str,
        request: TransferRequest,
    ) -> anyhow::Result<String> {
        let workflow_id = transfer_workflow_id(user, &IdempotencyKey::parse(key)?);
        let input = TransferInput {
            transfer_id,
            user_id: user,
            idempotency_key: key.to_owned(),
            request,
        };
        self.temporal
            .start_workflow(
                TransferWorkflow::run,
                input,
                WorkflowStartOptions::new(self.task_queue.clone(), workflow_id.clone()).build(),
            )
            .await?;
        Ok(workflow_id)
    }

    /// An outage of the ledger: until the returned transaction ends, nothing can write
    /// postings, so every ledger step waits for its lock timeout and fails.
    pub async fn lock_postings(
        &self,
    ) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut outage = self.db.begin().await?;
        sqlx::query("LOCK TABLE postings IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *outage)
            .await?;
        Ok(outage)
    }

    /// (posted, pending debit) of an account, straight from the projection.
    pub async fn balance_minor(&self, account_global_id: &str) -> anyhow::Result<(i64, i64)> {
        let uuid = djinn_graphql::schema::ids::decode(account_global_id)
            .context("an account id")?
            .1;
        Ok(sqlx::query_as(
            "SELECT posted_minor, pending_debit_minor FROM account_balances WHERE account_id = $1",
        )
        .bind(uuid)
        .fetch_one(&self.db)
        .await?)
    }
}

/// The account behind a global id the API gave out.
pub fn account_id(global_id: &str) -> AccountId {
    AccountId::from_uuid(
        djinn_graphql::schema::ids::decode(global_id)
            .expect("an account id")
            .1,
    )
}

impl Client {
    /// POSTs a GraphQL request and returns the whole response body; fails on non-200.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// Like [`Client::graphql`], but fails on top-level errors and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = self.graphql(query, variables).await?;
        if body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("GraphQL errors: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Opens an account and returns its global id.
    pub async fn open_account(
        &self,
        name: &str,
        currency: &str,
        opening: Option<&str>,
    ) -> anyhow::Result<String> {
        let opening = opening.map(|amount| json!({"amount": amount, "currency": currency}));
        let data = self
            .data(
                "mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id } userErrors { code message } } }",
                json!({"input": {"name": name, "kind": "CHECKING", "currency": currency, "openingBalance": opening}}),
            )
            .await?;
        data["openAccount"]["account"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("openAccount failed: {data}"))
    }

    /// Sends createTransfer and returns the payload (transfer and userErrors).
    pub async fn create_transfer(
        &self,
        key: &str,
        from: &str,
        to: &str,
        amount: &str,
        currency: &str,
    ) -> anyhow::Result<Value> {
        let data = self
            .data(
                "mutation($input: CreateTransferInput!) { createTransfer(input: $input) {
                    transfer { id status workflowId amount { amount currency } description }
                    userErrors { field code message } } }",
                json!({"input": {"idempotencyKey": key, "fromAccountId": from, "toAccountId": to,
                                  "amount": {"amount": amount, "currency": currency}}}),
            )
            .await?;
        Ok(data["createTransfer"].clone())
    }

    /// Polls the transfer until it leaves PENDING, and returns it.
    pub async fn settled_transfer(&self, id: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let data = self
                .data(
                    "query($id: ID!) { transfer(id: $id) { id status failureCode workflowId amount { amount currency } } }",
                    json!({"id": id}),
                )
                .await?;
            let transfer = data["transfer"].clone();
            if transfer["status"] != "PENDING" {
                return Ok(transfer);
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                bail!("transfer {id} still PENDING after {SETTLE_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// (balance, availableBalance) of an account as GraphQL shows them.
    pub async fn balances(&self, account: &str) -> anyhow::Result<(String, String)> {
        let data = self
            .data("query($id: ID!) { account(id: $id) { balance { amount } availableBalance { amount } } }", json!({"id": account}))
            .await?;
        let amount = |field: &str| {
            data["account"][field]["amount"]
                .as_str()
                .map(str::to_owned)
                .context("an amount")
        };
        Ok((amount("balance")?, amount("availableBalance")?))
    }
}

impl TestApp {
    /// A `djinn worker` process on this test's database and task queue, with `env` added to its
    /// environment; killed when dropped, so a test can crash it as a deployment would.
    pub fn worker_process(&self, env: &[(&str, &str)]) -> anyhow::Result<tokio::process::Child> {
        self.djinn_process("worker", env)
    }

    /// `djinn <role>` on this test's database and task queue, with the test key and `env` added
    /// to its environment, logging where `worker_log` says, killed when dropped.
    fn djinn_process(
        &self,
        role: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<tokio::process::Child> {
        Ok(tokio::process::Command::new(djinn_binary()?)
            .arg(role)
            .env("DATABASE_URL", &self.database_url)
            .env("DJINN_TASK_QUEUE", &self.task_queue)
            .env("DJINN_CODEC_KEYS", TEST_CODEC_KEYS)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(worker_log()?)
            .kill_on_drop(true)
            .spawn()?)
    }

    /// A `djinn api` process on this test's database and task queue (running the workflows it
    /// starts, as deployed), with `env` added to its environment; returns it once it answers
    /// /healthz, with its base URL.
    pub async fn api_process(
        &self,
        env: &[(&str, &str)],
    ) -> anyhow::Result<(tokio::process::Child, String)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let address = format!("http://{listen}");
        let api_env = [
            ("DJINN_API_ADDR", listen.as_str()),
            ("FIREBASE_PROJECT_ID", PROJECT_ID),
            ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
        ];
        let env: Vec<(&str, &str)> = api_env.into_iter().chain(env.iter().copied()).collect();
        let mut api = self.djinn_process("api", &env)?;
        let started = Instant::now();
        while started.elapsed() < SETTLE_TIMEOUT {
            if let Some(status) = api.try_wait()? {
                bail!("djinn api exited before it answered: {status}");
            }
            let health = self.http.get(format!("{address}/healthz")).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return Ok((api, address));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("djinn api did not answer /healthz at {address}")
    }
}

/// Where a worker process logs: a file of its own in DJINN_TEST_WORKER_LOG_DIR when that is set
/// (set RUST_LOG too, to see what the SDK did), otherwise nowhere.
fn worker_log() -> anyhow::Result<std::process::Stdio> {
    Ok(match std::env::var("DJINN_TEST_WORKER_LOG_DIR") {
        Ok(dir) => {
            let name = format!("worker-{}.log", uuid::Uuid::now_v7().simple());
            std::fs::File::create(std::path::Path::new(&dir).join(name))?.into()
        }
        Err(_) => std::process::Stdio::null(),
    })
}

/// Path of the `djinn` binary built next to the running test (target/<profile>/djinn).
pub fn djinn_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Ok(path) = std::env::var("DJINN_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary lives in target/<profile>/deps")?;
    let binary = profile_dir.join("djinn");
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --bin djinn` first (make test does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Replays a finished transfer's history from the server against today's workflow code: a
/// change that breaks determinism fails here rather than in production.
pub async fn replay_transfer(
    temporal: &temporalio_client::Client,
    workflow_id: &str,
) -> anyhow::Result<()> {
    use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
    let handle = temporal.get_workflow_handle::<djinn_workflows::TransferWorkflow>(workflow_id);
    // The ledger says a transfer settled as soon as its last step commits, a moment before the
    // workflow task that ran it completes: the whole history is there once the run has ended.
    tokio::time::timeout(
        Duration::from_secs(30),
        handle.get_result(temporalio_client::WorkflowGetResultOptions::default()),
    )
    .await
    .context("the transfer's run ends")??;
    let history = handle.fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default());
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .data_converter(temporal::data_converter(&test_codec()))
            .register_workflow::<djinn_workflows::TransferWorkflow>()?
            .build(),
    )?;
    replayer.replay_workflow(history).await?;
    Ok(())
}
