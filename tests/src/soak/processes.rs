//! The soak's `djinn api` and `djinn worker`, as real processes on the soak's own database and
//! Temporal: killed with SIGKILL on purpose, and restarted (like a platform restarts a crashed
//! container) whenever one is not running.

use crate::{PROJECT_ID, TEST_CODEC_KEYS, djinn_binary};
use anyhow::bail;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub struct Processes {
    env: Vec<(String, String)>,
    api_env: Vec<(String, String)>,
    worker_env: Vec<(String, String)>,
    api: Option<Child>,
    worker: Option<Child>,
    pub address: String,
    http: reqwest::Client,
}

fn port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Processes {
    pub async fn start(database_url: &str, temporal: &str) -> anyhow::Result<Self> {
        let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let env = pairs(&[
            ("DATABASE_URL", database_url),
            ("DATABASE_LISTEN_URL", database_url),
            ("TEMPORAL_ADDRESS", temporal),
            ("TEMPORAL_NAMESPACE", "default"),
            ("DJINN_TASK_QUEUE", "soak"),
            ("DJINN_CODEC_KEYS", TEST_CODEC_KEYS),
            ("DJINN_ENV", "development"),
            ("DJINN_APPROVAL_TIMEOUT", "15s"),
            ("DJINN_SWEEP_INTERVAL_MS", "1000"),
            ("DJINN_SWEEP_AFTER_MS", "5000"),
        ]);
        let listen = format!("127.0.0.1:{}", port()?);
        let probes = format!("127.0.0.1:{}", port()?);
        let mut processes = Self {
            env,
            api_env: pairs(&[
                ("DJINN_API_ADDR", &listen),
                ("FIREBASE_PROJECT_ID", PROJECT_ID),
                ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
                ("DJINN_RATE_LIMIT_PER_MINUTE", "1000000"),
            ]),
            worker_env: pairs(&[("DJINN_METRICS_ADDR", &probes)]),
            api: None,
            worker: None,
            address: format!("http://{listen}"),
            http: reqwest::Client::new(),
        };
        processes.migrate().await?;
        processes.keep_running().await?;
        Ok(processes)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let status = Command::new(djinn_binary()?)
            .arg("migrate")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("djinn migrate failed: {status}");
        }
        Ok(())
    }

    fn spawn(&self, role: &str, extra: &[(String, String)]) -> anyhow::Result<Child> {
        Ok(Command::new(djinn_binary()?)
            .arg(role)
            .envs(self.env.iter().chain(extra).map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?)
    }

    pub async fn kill_api(&mut self) -> anyhow::Result<()> {
        if let Some(mut api) = self.api.take() {
            api.kill().await?;
        }
        Ok(())
    }

    pub async fn kill_worker(&mut self) -> anyhow::Result<()> {
        if let Some(mut worker) = self.worker.take() {
            worker.kill().await?;
        }
        Ok(())
    }

    /// Restarts whichever is not running, and returns once the api answers /readyz.
    pub async fn keep_running(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if exited(&mut self.worker) {
                self.worker = Some(self.spawn("worker", &self.worker_env.clone())?);
            }
            if exited(&mut self.api) {
                self.api = Some(self.spawn("api", &self.api_env.clone())?);
            }
            let ready = self
                .http
                .get(format!("{}/readyz", self.address))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(180) {
                bail!("djinn api did not become ready within 180 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.kill_api().await;
        let _ = self.kill_worker().await;
    }
}

/// Whether the process is gone (never started, killed, or exited on its own).
fn exited(process: &mut Option<Child>) -> bool {
    match process {
        None => true,
        Some(child) => {
            if child.try_wait().is_ok_and(|status| status.is_some()) {
                *process = None;
                true
            } else {
                false
            }
        }
    }
}
