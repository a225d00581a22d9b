//! Safe by default: a missing or mistyped DJINN_ENV runs as production, development's
//! conveniences (unsigned emulator tokens, open codec endpoints) only on a loopback address,
//! and the codec endpoints refuse a caller without the ops token before reading its body.

use djinn_tests::{TEST_CODEC_KEYS, djinn_binary, spawn_app_with};
use std::process::Output;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `djinn api` with exactly `env` (nothing inherited) and returns how it ended. Each case
/// below refuses while reading its configuration, before it connects to anything.
async fn api_with(env: &[(&str, &str)]) -> anyhow::Result<Output> {
    role_with("api", env).await
}

async fn role_with(role: &str, env: &[(&str, &str)]) -> anyhow::Result<Output> {
    let run = tokio::process::Command::new(djinn_binary()?)
        .arg(role)
        .env_clear()
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    Ok(tokio::time::timeout(Duration::from_secs(30), run).await??)
}

fn refused_saying(output: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it started: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in: {stderr}");
    }
}

#[tokio::test]
async fn a_mistyped_environment_refuses_to_start_naming_it() -> anyhow::Result<()> {
    let output = api_with(&[
        ("DJINN_ENV", "prod"),
        ("DATABASE_URL", "postgres://nowhere/x"),
    ])
    .await?;
    refused_saying(&output, &["DJINN_ENV", "\"prod\""]);
    Ok(())
}

#[tokio::test]
async fn no_environment_is_production() -> anyhow::Result<()> {
    // Unset, emulator tokens are refused and so is a missing codec key.
    let output = api_with(&[
        ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
        ("DATABASE_URL", "postgres://nowhere/x"),
    ])
    .await?;
    refused_saying(&output, &["FIREBASE_AUTH_EMULATOR_HOST", "production"]);
    let output = api_with(&[("DATABASE_URL", "postgres://nowhere/x")]).await?;
    refused_saying(&output, &["DJINN_CODEC_KEYS", "production"]);
    Ok(())
}

#[tokio::test]
async fn development_keeps_its_conveniences_to_a_loopback_address() -> anyhow::Result<()> {
    let public = [
        ("DJINN_ENV", "development"),
        ("DATABASE_URL", "postgres://nowhere/x"),
        ("DJINN_API_ADDR", "0.0.0.0:18999"),
    ];
    let with_emulator: Vec<_> = public
        .into_iter()
        .chain([("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")])
        .collect();
    refused_saying(
        &api_with(&with_emulator).await?,
        &["FIREBASE_AUTH_EMULATOR_HOST", "loopback", "0.0.0.0:18999"],
    );
    // PORT (as on Railway) means 0.0.0.0 too.
    let on_port = [
        ("DJINN_ENV", "development"),
        ("DATABASE_URL", "postgres://nowhere/x"),
        ("PORT", "18999"),
        ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
    ];
    refused_saying(&api_with(&on_port).await?, &["loopback"]);
    // Codec keys without an ops token: the codec endpoints would be open to the network.
    let with_keys: Vec<_> = public
        .into_iter()
        .chain([("DJINN_CODEC_KEYS", TEST_CODEC_KEYS)])
        .collect();
    refused_saying(
        &api_with(&with_keys).await?,
        &["DJINN_OPS_TOKEN", "loopback"],
    );
    Ok(())
}

#[tokio::test]
async fn the_codec_endpoints_refuse_before_reading_the_body() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.ops_token = Some("ops-secret-123".to_owned().into()))
        .await?;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    // A large body announced and never sent: an endpoint that read it first would wait.
    stream
        .write_all(
            format!(
                "POST /codec/decode HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000000\r\nAuthorization: Bearer wrong\r\n\r\n{{\"payloads\": ["
            )
            .as_bytes(),
        )
        .await?;
    let mut answer = vec![0_u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .map_err(|_| anyhow::anyhow!("no answer before the body: the endpoint waits for it"))??;
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        !answer.contains("wrong"),
        "the answer does not say why: {answer}"
    );
    Ok(())
}

/// Each role checks its whole configuration before it connects, and names every problem on a
/// line of its own, never echoing a secret: not only the first it trips on.
#[tokio::test]
async fn a_role_names_every_problem_of_its_configuration_at_once() -> anyhow::Result<()> {
    let output = api_with(&[
        ("DJINN_ENV", "production"),
        ("DATABASE_URL", "postgres://app:s3cret@db.example/djinn"),
        ("DJINN_CODEC_KEYS", "k1:c2hvcnQ="),
        ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
    ])
    .await?;
    refused_saying(
        &output,
        &[
            "3 problems",
            "FIREBASE_AUTH_EMULATOR_HOST",
            "\"k1\"",
            "DATABASE_URL must ask for TLS",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("s3cret") && !stderr.contains("db.example"),
        "{stderr}"
    );

    let output = role_with(
        "worker",
        &[
            ("DJINN_ENV", "production"),
            ("DATABASE_URL", "not a url"),
            ("DJINN_CODEC_KEYS", "no-colon"),
        ],
    )
    .await?;
    refused_saying(
        &output,
        &[
            "2 problems",
            "DATABASE_URL is not a PostgreSQL URL",
            "id:base64key",
        ],
    );
    // TLS in production can be waived explicitly, for a database on a private network.
    let output = role_with(
        "worker",
        &[
            ("DJINN_ENV", "production"),
            ("DATABASE_URL", "postgres://db.internal/djinn"),
            ("DJINN_DATABASE_ALLOW_PLAINTEXT", "true"),
        ],
    )
    .await?;
    refused_saying(&output, &["1 problems", "DJINN_CODEC_KEYS"]);
    refused_saying(&role_with("migrate", &[]).await?, &["DATABASE_URL"]);
    Ok(())
}
