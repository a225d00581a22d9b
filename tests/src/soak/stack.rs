//! The soak's own PostgreSQL cluster and Temporal dev server, which it restarts on purpose:
//! the other tests share `make test`'s, which must keep running. Both keep their data across a
//! restart (the cluster's directory, the dev server's SQLite file), as a real outage would.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::process::Child;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL cluster of the soak's own, run by `pg_ctl` (as `postgres` when root).
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile_dir::Dir,
}

impl Postgres {
    pub fn start(database: &str) -> anyhow::Result<Self> {
        let bin = PathBuf::from(
            std::env::var("DJINN_TEST_PG_BIN_DIR")
                .context("DJINN_TEST_PG_BIN_DIR (make test sets it)")?,
        );
        let dir = tempfile_dir::Dir::new("djinn-soak-pg")?;
        let data = dir.path().join("data");
        let port = free_port()?;
        let postgres = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        postgres.run(
            "initdb",
            &[
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--username=postgres",
                "-D",
            ],
        )?;
        postgres.pg_ctl(&["start", "--wait", "--silent"])?;
        postgres.run_plain(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                database,
            ],
        )?;
        Ok(postgres)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server at once (`immediate`: no checkpoint, crash recovery at start, as after a
    /// crash) and starts it again on the same data and port.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["stop", "--wait", "--silent", "-m", "immediate"])?;
        self.pg_ctl(&["start", "--wait", "--silent"])
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k '' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off",
            self.port
        );
        let log = self.data.with_file_name("server.log");
        let mut all: Vec<String> = vec![
            "-D".into(),
            self.data.display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-o".into(),
            options,
        ];
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run_plain("pg_ctl", &all)
    }

    /// `tool args.. <data dir>`.
    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        let mut all = args.to_vec();
        all.push(&data);
        self.run_plain(tool, &all)
    }

    fn run_plain(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let status = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()?
        } else {
            Command::new(&program)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()?
        };
        if !status.success() {
            bail!("{} {args:?} failed: {status}", program.display());
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "--wait", "--silent", "-m", "immediate"]);
    }
}

/// A Temporal dev server of the soak's own, on a SQLite file that outlives its restarts.
pub struct Temporal {
    cli: PathBuf,
    db_file: PathBuf,
    pub port: u16,
    server: Option<Child>,
    _dir: tempfile_dir::Dir,
}

impl Temporal {
    pub async fn start() -> anyhow::Result<Self> {
        let cli = PathBuf::from(
            std::env::var("DJINN_TEMPORAL_CLI")
                .context("DJINN_TEMPORAL_CLI (make test sets it)")?,
        );
        let dir = tempfile_dir::Dir::new("djinn-soak-temporal")?;
        let mut temporal = Self {
            cli,
            db_file: dir.path().join("temporal.db"),
            port: free_port()?,
            server: None,
            _dir: dir,
        };
        temporal.serve().await?;
        Ok(temporal)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and starts it again on the same file and port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut server) = self.server.take() {
            server.kill().await?;
        }
        self.serve().await
    }

    async fn serve(&mut self) -> anyhow::Result<()> {
        let ui_port = free_port()?;
        let mut command = tokio::process::Command::new(&self.cli);
        command
            .args([
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--headless",
                "--namespace",
                "default",
            ])
            .args([
                "--port",
                &self.port.to_string(),
                "--ui-port",
                &ui_port.to_string(),
            ])
            .args(["--log-level", "error", "--db-filename"])
            .arg(&self.db_file)
            .args([
                "--dynamic-config-value",
                "system.forceSearchAttributesCacheRefreshOnRead=false",
            ]);
        for attribute in djinn_workflows::search_attributes::KEYWORD_ATTRIBUTES {
            command.args(["--search-attribute", &format!("{attribute}=Keyword")]);
        }
        let server = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.server = Some(server);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if tokio::net::TcpStream::connect(self.address()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "the soak's Temporal dev server did not listen on {}",
            self.address()
        )
    }
}

/// A temporary directory the `postgres` user can reach, removed when dropped.
mod tempfile_dir {
    use super::Path;
    use std::path::PathBuf;

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> anyhow::Result<Self> {
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&path)?;
            let _ = std::process::Command::new("chmod")
                .arg("777")
                .arg(&path)
                .status();
            Ok(Self(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
