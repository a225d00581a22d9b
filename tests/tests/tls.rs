//! TLS wherever Djinn's connections leave the machine, with the certificate verified.
//! `make test` gives its private PostgreSQL a server certificate for the name `localhost`,
//! signed by a CA made for the run (scripts/lib.sh, `make_test_certificates`), beside an
//! unrelated second CA.

use djinn_store::db;
use djinn_tests::{djinn_binary, fresh_database};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn certificate(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("DJINN_TEST_TLS_DIR").expect("DJINN_TEST_TLS_DIR is set by make test"),
    )
    .join(name)
}

/// The test database's URL on `host`, asking for `sslmode=verify-full` against `ca`.
fn verify_full(direct: &str, host: &str, ca: &str) -> String {
    let (_, rest) = direct.split_once('@').expect("a URL with a user");
    let (_, port_and_database) = rest.split_once(':').expect("a URL with a port");
    let user = direct
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .map(|(u, _)| u)
        .expect("a user");
    format!(
        "postgres://{user}@{host}:{port_and_database}?sslmode=verify-full&sslrootcert={}",
        certificate(ca).display()
    )
}

#[tokio::test]
async fn postgres_is_reached_with_verify_full_and_an_impostor_is_refused() -> anyhow::Result<()> {
    let (direct, _) = fresh_database().await?;

    let verified = verify_full(&direct, "localhost", "ca.pem");
    let pool = db::connect(&verified, 1).await?;
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await?;
    assert!(encrypted, "the connection is encrypted");
    assert_eq!(db::asks_for_tls(&verified), Some(true));

    // The certificate names localhost, not 127.0.0.1: the same server under another name.
    let wrong_name = verify_full(&direct, "127.0.0.1", "ca.pem");
    let refused = db::connect(&wrong_name, 1)
        .await
        .expect_err("a certificate for another name is refused");
    assert!(
        format!("{refused:#}")
            .to_lowercase()
            .contains("certificate"),
        "{refused:#}"
    );
    // Signed by a CA the client was not told to trust.
    let wrong_ca = verify_full(&direct, "localhost", "other-ca.pem");
    let refused = db::connect(&wrong_ca, 1)
        .await
        .expect_err("a certificate from another CA is refused");
    assert!(
        format!("{refused:#}")
            .to_lowercase()
            .contains("certificate"),
        "{refused:#}"
    );

    // The production binary with such a URL: verify-full satisfies its TLS rule, and it connects.
    let migrated = tokio::process::Command::new(djinn_binary()?)
        .arg("migrate")
        .env("DJINN_ENV", "production")
        .env("DATABASE_URL", &verified)
        .output()
        .await?;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let refused = tokio::process::Command::new(djinn_binary()?)
        .arg("migrate")
        .env("DATABASE_URL", &wrong_ca)
        .output()
        .await?;
    assert!(
        !refused.status.success(),
        "djinn migrate refuses an unverifiable server"
    );
    Ok(())
}

/// A TLS endpoint in front of the (plaintext) Temporal dev server, presenting the run's
/// `localhost` certificate: counts the connections that opened with a TLS handshake and the
/// handshakes that completed, and forwards what a completed one carries.
struct TlsFront {
    address: String,
    hellos: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    async fn start() -> anyhow::Result<Self> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let certificates = CertificateDer::pem_file_iter(certificate("server.pem"))?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(certificate("server.key"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = format!("localhost:{}", listener.local_addr()?.port());
        let upstream = std::env::var("TEMPORAL_ADDRESS")?;
        let (hellos, handshakes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (seen, done) = (hellos.clone(), handshakes.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, upstream, seen, done) = (
                    acceptor.clone(),
                    upstream.clone(),
                    seen.clone(),
                    done.clone(),
                );
                tokio::spawn(async move {
                    let mut first = [0u8; 1];
                    // A TLS connection opens with a handshake record (content type 22).
                    if socket.peek(&mut first).await.is_ok() && first[0] == 0x16 {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                    }
                });
            }
        });
        Ok(Self {
            address,
            hellos,
            handshakes,
        })
    }
}

/// `djinn worker` against the TLS front with `env` (development, so no codec key is needed
/// beyond the test's), and whether it polled within a few seconds or exited.
async fn worker_through(
    front: &TlsFront,
    env: &[(&str, String)],
) -> anyhow::Result<Option<std::process::ExitStatus>> {
    let (direct, _) = fresh_database().await?;
    let mut worker = tokio::process::Command::new(djinn_binary()?)
        .arg("worker")
        .env_clear()
        .env("DJINN_ENV", "development")
        .env("DATABASE_URL", &direct)
        .env("DJINN_CODEC_KEYS", djinn_tests::TEST_CODEC_KEYS)
        .env(
            "DJINN_TASK_QUEUE",
            format!("djinn-tls-{}", uuid::Uuid::now_v7().simple()),
        )
        .env("TEMPORAL_ADDRESS", &front.address)
        .env("TEMPORAL_NAMESPACE", "default")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let exited = tokio::time::timeout(std::time::Duration::from_secs(8), worker.wait()).await;
    Ok(exited.ok().transpose()?)
}

#[tokio::test]
async fn a_tls_temporal_endpoint_is_dialled_with_tls_and_verified() -> anyhow::Result<()> {
    // Trusting the run's CA: the worker connects over TLS and stays up, polling.
    let front = TlsFront::start().await?;
    let trusted = [
        ("TEMPORAL_TLS", "true".to_owned()),
        (
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
            certificate("ca.pem").display().to_string(),
        ),
    ];
    let exited = worker_through(&front, &trusted).await?;
    assert!(
        exited.is_none(),
        "the worker runs against the TLS endpoint: {exited:?}"
    );
    assert!(
        front.handshakes.load(Ordering::SeqCst) >= 1,
        "TLS handshakes completed"
    );

    // An API key (Temporal Cloud) turns TLS on by itself; against a certificate no trusted root
    // signed, the handshake starts and is refused, and the worker exits.
    let front = TlsFront::start().await?;
    let api_key = [("TEMPORAL_API_KEY", "a-cloud-api-key".to_owned())];
    let exited = worker_through(&front, &api_key).await?;
    assert!(
        front.hellos.load(Ordering::SeqCst) >= 1,
        "the worker opened with a TLS handshake"
    );
    assert_eq!(
        front.handshakes.load(Ordering::SeqCst),
        0,
        "an unverifiable certificate is refused"
    );
    assert!(
        exited.is_some_and(|status| !status.success()),
        "the worker exits: {exited:?}"
    );
    Ok(())
}
