//! No Docker engine runs here, so the images (api.Dockerfile, worker.Dockerfile) are checked by
//! running what they run: the release binary, as an unprivileged user, from a read-only
//! directory, with only the settings README.md lists for production (and no other variable:
//! no HOME, no PATH), through the pooler as production reaches PostgreSQL. The api must serve
//! /healthz and /readyz on 0.0.0.0:$PORT and pass its own HEALTHCHECK (`djinn healthcheck`);
//! the worker must poll its task queue and answer its probes.

use anyhow::{Context, bail};
use djinn_tests::{TEST_CODEC_KEYS, fresh_database, pooler_url};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The binary the images hold: `cargo build --release --locked --bin djinn`, which make test
/// builds and names in DJINN_RELEASE_BIN.
fn release_binary() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(
        std::env::var("DJINN_RELEASE_BIN")
            .context("DJINN_RELEASE_BIN (the release build of djinn) is set by make test")?,
    );
    anyhow::ensure!(path.exists(), "no release binary at {}", path.display());
    Ok(path)
}

/// The names in README.md's production settings block.
fn production_settings() -> anyhow::Result<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let block = readme
        .split("<!-- production-settings -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /production-settings -->").next())
        .context("README.md has a production settings block")?;
    Ok(block
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect())
}

/// A copy of the binary in a directory nobody may write to, as the image's /usr/local/bin.
fn read_only_copy(binary: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("djinn-image-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir(&dir)?;
    let copy = dir.join("djinn");
    std::fs::copy(binary, &copy)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o555))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555))?;
    Ok(copy)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `djinn <args>` as the image's entrypoint runs it: only `env`, from the read-only directory,
/// as user and group 65534 (nobody) when the tests run as root (CI does), as the image's 65532.
fn as_the_image(
    binary: &Path,
    args: &[&str],
    env: &BTreeMap<&str, String>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(binary.parent().expect("the binary's directory"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if is_root() {
        command.uid(65534).gid(65534);
    }
    command
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

async fn answers(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|response| response.status().is_success())
}

async fn until(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("timed out waiting until {what}")
}

/// The identities polling `task_queue`, as the Temporal CLI describes it.
fn pollers(task_queue: &str) -> anyhow::Result<Vec<String>> {
    let cli =
        std::env::var("DJINN_TEMPORAL_CLI").context("DJINN_TEMPORAL_CLI is set by make test")?;
    let output = std::process::Command::new(cli)
        .args([
            "task-queue",
            "describe",
            "--task-queue",
            task_queue,
            "--output",
            "json",
        ])
        .args(["--address", &std::env::var("TEMPORAL_ADDRESS")?])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut identities = Vec::new();
    collect_identities(&serde_json::from_slice(&output.stdout)?, &mut identities);
    Ok(identities)
}

fn collect_identities(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("identity", serde_json::Value::String(identity)) => {
                        into.push(identity.clone())
                    }
                    _ => collect_identities(field, into),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| collect_identities(item, into))
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_release_binary_serves_and_polls_as_the_images_run_it() -> anyhow::Result<()> {
    let binary = read_only_copy(&release_binary()?)?;
    let (direct_url, _pool) = fresh_database().await?;
    let database = direct_url.rsplit('/').next().context("a database")?;
    let task_queue = format!("djinn-image-{}", uuid::Uuid::now_v7().simple());
    let (port, probe_port) = (free_port()?, free_port()?);
    let settings = production_settings()?;
    let env: BTreeMap<&str, String> = BTreeMap::from([
        ("DJINN_ENV", "production".to_owned()),
        ("DATABASE_URL", format!("{}/{database}", pooler_url())),
        // Subscriptions LISTEN past the pooler.
        ("DATABASE_LISTEN_URL", direct_url.clone()),
        // The test's PostgreSQL has no TLS (tests/tests/tls.rs covers verify-full).
        ("DJINN_DATABASE_ALLOW_PLAINTEXT", "true".to_owned()),
        ("DJINN_CODEC_KEYS", TEST_CODEC_KEYS.to_owned()),
        ("DJINN_OPS_TOKEN", "ops-token-for-the-image-test".to_owned()),
        ("FIREBASE_PROJECT_ID", "djinn-image-test".to_owned()),
        ("TEMPORAL_ADDRESS", std::env::var("TEMPORAL_ADDRESS")?),
        ("TEMPORAL_NAMESPACE", std::env::var("TEMPORAL_NAMESPACE")?),
        ("DJINN_TASK_QUEUE", task_queue.clone()),
        ("PORT", port.to_string()),
        ("DJINN_METRICS_ADDR", format!("0.0.0.0:{probe_port}")),
    ]);
    for name in env.keys() {
        assert!(
            settings.iter().any(|listed| listed == name),
            "README.md's production settings do not list {name}"
        );
    }

    let _worker = as_the_image(&binary, &["worker"], &env).spawn()?;
    until("the worker polls its task queue", async || {
        Ok(!pollers(&task_queue)?.is_empty())
    })
    .await?;
    let probes = format!("http://127.0.0.1:{probe_port}");
    until("the worker answers its probes", async || {
        Ok(answers(&format!("{probes}/healthz")).await
            && answers(&format!("{probes}/readyz")).await)
    })
    .await?;
    // Its metrics on the same listener: Djinn's and the Temporal SDK's.
    let worker_metrics = reqwest::get(format!("{probes}/metrics"))
        .await?
        .text()
        .await?;
    assert!(worker_metrics.contains("build_info{"), "{worker_metrics}");
    assert!(
        worker_metrics.contains("temporal_"),
        "the SDK's worker metrics"
    );

    let _api = as_the_image(&binary, &["api"], &env).spawn()?;
    let api = format!("http://127.0.0.1:{port}");
    until("the api answers /healthz", async || {
        Ok(answers(&format!("{api}/healthz")).await)
    })
    .await?;
    assert!(
        answers(&format!("{api}/readyz")).await,
        "the api is ready: PostgreSQL and Temporal answer"
    );
    // The api listens on every address when PORT is set, as a platform's router needs.
    let elsewhere = local_non_loopback_address();
    if let Some(address) = elsewhere {
        assert!(
            answers(&format!("http://{address}:{port}/healthz")).await,
            "the api answers on {address}"
        );
    }
    // The images' HEALTHCHECK: the binary probing itself, with the same environment.
    let healthcheck = as_the_image(&binary, &["healthcheck"], &env)
        .status()
        .await?;
    assert!(
        healthcheck.success(),
        "djinn healthcheck passes against the running api"
    );
    let mut stopped = env.clone();
    stopped.insert("PORT", free_port()?.to_string());
    let failing = as_the_image(&binary, &["healthcheck"], &stopped)
        .status()
        .await?;
    assert!(
        !failing.success(),
        "djinn healthcheck fails where nothing answers"
    );
    Ok(())
}

/// An address of this machine other than loopback, if it has one.
fn local_non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback() && !address.is_unspecified()).then_some(address)
}
