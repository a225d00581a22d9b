//! `djinn api` and `djinn worker` as real processes on a test's database and task queue, so
//! that a test can crash them as a deployment would.

use crate::{PROJECT_ID, SETTLE_TIMEOUT, TEST_CODEC_KEYS, TestApp};
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

impl TestApp {
    /// A `djinn worker` process on this test's database and task queue, with `env` added to its
    /// environment; killed when dropped, so a test can crash it as a deployment would.
    pub fn worker_process(&self, env: &[(&str, &str)]) -> anyhow::Result<tokio::process::Child> {
        self.djinn_process("worker", env)
    }

    /// `djinn <role>` on this test's database and task queue, with the test key and `env` added
    /// to its environment, its stderr to `logs`, killed when dropped.
    fn djinn_process_to(
        &self,
        role: &str,
        env: &[(&str, &str)],
        logs: std::process::Stdio,
    ) -> anyhow::Result<tokio::process::Child> {
        Ok(tokio::process::Command::new(djinn_binary()?)
            .arg(role)
            .env("DATABASE_URL", &self.database_url)
            .env("DJINN_TASK_QUEUE", &self.task_queue)
            .env("DJINN_CODEC_KEYS", TEST_CODEC_KEYS)
            .env("DJINN_ENV", "development")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(logs)
            .kill_on_drop(true)
            .spawn()?)
    }

    /// `djinn <role>` logging where `worker_log` says.
    fn djinn_process(
        &self,
        role: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<tokio::process::Child> {
        self.djinn_process_to(role, env, worker_log()?)
    }

    /// `djinn <role>` writing its JSON logs at info to `log`: for a test that reads them.
    pub fn logged_process(
        &self,
        role: &str,
        env: &[(&str, &str)],
        log: &std::path::Path,
    ) -> anyhow::Result<tokio::process::Child> {
        let logging = [("DJINN_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
        let env: Vec<(&str, &str)> = logging.into_iter().chain(env.iter().copied()).collect();
        self.djinn_process_to(role, &env, std::fs::File::create(log)?.into())
    }

    /// A `djinn api` process (running the workflows it starts, as deployed), with `env` added
    /// to its environment; returns it once it answers /healthz, with its base URL.
    pub async fn api_process(
        &self,
        env: &[(&str, &str)],
    ) -> anyhow::Result<(tokio::process::Child, String)> {
        self.api_process_to(env, None).await
    }

    /// [`TestApp::api_process`], writing its JSON logs at info to `log`.
    pub async fn logged_api(
        &self,
        env: &[(&str, &str)],
        log: &std::path::Path,
    ) -> anyhow::Result<(tokio::process::Child, String)> {
        self.api_process_to(env, Some(log)).await
    }

    async fn api_process_to(
        &self,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
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
        let mut api = match log {
            Some(log) => self.logged_process("api", &env, log)?,
            None => self.djinn_process("api", &env)?,
        };
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

impl TestApp {
    /// Runs `djinn <args>` (an operator's command) on this test's database, task queue and key,
    /// and waits for it: its exit status and output.
    pub async fn djinn_command(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(tokio::process::Command::new(djinn_binary()?)
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("DJINN_TASK_QUEUE", &self.task_queue)
            .env("DJINN_CODEC_KEYS", TEST_CODEC_KEYS)
            .env("DJINN_ENV", "development")
            .kill_on_drop(true)
            .output()
            .await?)
    }
}
