//! Firebase ID tokens against a key pair made here and a JWKS served from a local HTTP server,
//! as Google serves its keys.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use djinn_graphql::auth::AuthError;
use djinn_graphql::{FirebaseVerifier, TokenVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROJECT: &str = "djinn-prod";
/// How long the key endpoint takes to fail during an outage: longer than any sign-in may wait.
const OUTAGE_ANSWER_DELAY: Duration = Duration::from_secs(4);

#[derive(Clone, Default)]
struct KeyServer {
    published: Arc<Mutex<Vec<(String, RsaPublicKey)>>>,
    fetches: Arc<AtomicUsize>,
    /// While set, the endpoint answers 503 after a long wait: down, and slow about it.
    outage: Arc<AtomicBool>,
    /// The keys' lifetime announced in Cache-Control; 3600 s when 0.
    max_age_seconds: Arc<AtomicUsize>,
}

async fn jwks(State(server): State<KeyServer>) -> axum::response::Response {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    if server.outage.load(Ordering::SeqCst) {
        tokio::time::sleep(OUTAGE_ANSWER_DELAY).await;
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let max_age = match server.max_age_seconds.load(Ordering::SeqCst) {
        0 => 3600,
        seconds => seconds,
    };
    let keys: Vec<Value> = server
        .published
        .lock()
        .expect("lock")
        .iter()
        .map(|(kid, key)| {
            json!({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                   "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())})
        })
        .collect();
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, must-revalidate"),
        )],
        axum::Json(json!({"keys": keys})),
    )
        .into_response()
}

async fn serve(server: KeyServer) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/keys", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/keys", get(jwks))
        .with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

struct SigningKey {
    kid: String,
    private: RsaPrivateKey,
}

impl SigningKey {
    fn generate(kid: &str) -> anyhow::Result<Self> {
        Ok(Self {
            kid: kid.to_owned(),
            private: RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?,
        })
    }

    fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_as(&self.kid, claims)
    }

    /// Signs with this key but claims another key's id: a forgery.
    fn sign_as(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let pem = self.private.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)?;
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes())?,
        )?)
    }
}

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": format!("https://securetoken.google.com/{PROJECT}"), "aud": PROJECT, "sub": sub,
           "iat": now - 10, "auth_time": now - 10, "exp": now + 3600})
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().expect("an object").remove(field);
    } else {
        claims[field] = value;
    }
    claims
}

#[tokio::test]
async fn only_valid_tokens_signed_by_a_published_key_pass() -> anyhow::Result<()> {
    let server = KeyServer::default();
    let current = SigningKey::generate("key-1")?;
    let stranger = SigningKey::generate("key-x")?;
    server
        .published
        .lock()
        .expect("lock")
        .push((current.kid.clone(), RsaPublicKey::from(&current.private)));
    let verifier = FirebaseVerifier::new(PROJECT, serve(server.clone()).await?);

    let valid = verifier.verify(&current.sign(&claims("alice"))?).await?;
    assert_eq!(valid.firebase_uid, "alice");

    let now = chrono::Utc::now().timestamp();
    let unsigned = djinn_tests::unsigned_token(&claims("alice"));
    let refused = [
        (
            "forged signature",
            stranger.sign_as("key-1", &claims("alice"))?,
        ),
        ("alg none", unsigned),
        (
            "expired",
            current.sign(&with(claims("alice"), "exp", json!(now - 3600)))?,
        ),
        (
            "wrong audience",
            current.sign(&with(claims("alice"), "aud", json!("someone-else")))?,
        ),
        (
            "wrong issuer",
            current.sign(&with(
                claims("alice"),
                "iss",
                json!("https://securetoken.google.com/someone-else"),
            ))?,
        ),
        (
            "missing subject",
            current.sign(&with(claims("alice"), "sub", Value::Null))?,
        ),
        (
            "empty subject",
            current.sign(&with(claims("alice"), "sub", json!("")))?,
        ),
        (
            "issued in the future",
            current.sign(&with(claims("alice"), "iat", json!(now + 3600)))?,
        ),
        (
            "signed in in the future",
            current.sign(&with(claims("alice"), "auth_time", json!(now + 3600)))?,
        ),
        ("unknown key id", stranger.sign(&claims("alice"))?),
    ];
    for (case, token) in refused {
        assert!(
            verifier.verify(&token).await.is_err(),
            "{case} must be refused"
        );
    }
    Ok(())
}

#[tokio::test]
async fn keys_are_cached_rotated_and_refetched_at_most_once_a_minute() -> anyhow::Result<()> {
    let server = KeyServer::default();
    let old = SigningKey::generate("old")?;
    let new = SigningKey::generate("new")?;
    server
        .published
        .lock()
        .expect("lock")
        .push((old.kid.clone(), RsaPublicKey::from(&old.private)));
    let verifier = FirebaseVerifier::new(PROJECT, serve(server.clone()).await?);

    for _ in 0..3 {
        verifier.verify(&old.sign(&claims("alice"))?).await?;
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "keys are cached as Cache-Control allows"
    );

    // Google rotates: the new key appears, the old one goes. A token with the new kid makes
    // the verifier refetch once.
    *server.published.lock().expect("lock") =
        vec![(new.kid.clone(), RsaPublicKey::from(&new.private))];
    assert_eq!(
        verifier
            .verify(&new.sign(&claims("bob"))?)
            .await?
            .firebase_uid,
        "bob"
    );
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);

    // Unknown kids (forged or retired) cannot trigger another fetch within the minute.
    let forged = SigningKey::generate("made-up")?;
    for token in [
        forged.sign(&claims("eve"))?,
        old.sign(&claims("alice"))?,
        forged.sign(&claims("eve"))?,
    ] {
        assert_eq!(
            verifier.verify(&token).await,
            Err(AuthError::Rejected("unknown key id"))
        );
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "at most one unknown-kid refetch per minute"
    );
    Ok(())
}

/// Google's key endpoint down, and slow about it: sign-ins whose key is cached are answered at
/// once from the (stale) cache, one refresh at a time runs in the background, and failed
/// refreshes back off instead of being retried by every request.
#[tokio::test]
async fn an_outage_of_the_key_endpoint_signs_nobody_out() -> anyhow::Result<()> {
    let server = KeyServer::default();
    server.max_age_seconds.store(1, Ordering::SeqCst);
    let key = SigningKey::generate("current")?;
    server
        .published
        .lock()
        .expect("lock")
        .push((key.kid.clone(), RsaPublicKey::from(&key.private)));
    let verifier = Arc::new(FirebaseVerifier::new(PROJECT, serve(server.clone()).await?));
    verifier.verify(&key.sign(&claims("alice"))?).await?;
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);

    server.outage.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for wave in 0..3 {
        let started = Instant::now();
        let mut sign_ins = tokio::task::JoinSet::new();
        for i in 0..20 {
            let (verifier, token) = (
                Arc::clone(&verifier),
                key.sign(&claims(&format!("user-{i}")))?,
            );
            sign_ins.spawn(async move { verifier.verify(&token).await });
        }
        while let Some(signed_in) = sign_ins.join_next().await {
            signed_in??;
        }
        assert!(
            started.elapsed() < OUTAGE_ANSWER_DELAY / 2,
            "wave {wave}: sign-ins waited for the key endpoint ({:?})",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // 60 sign-ins over two seconds of outage: one refresh at a time, backing off when it fails.
    let fetches = server.fetches.load(Ordering::SeqCst);
    assert!((2..=3).contains(&fetches), "{fetches} fetches");

    // The endpoint is back: a later refresh picks the keys up again.
    server.outage.store(false, Ordering::SeqCst);
    tokio::time::sleep(OUTAGE_ANSWER_DELAY + Duration::from_secs(2)).await;
    verifier.verify(&key.sign(&claims("alice"))?).await?;
    let waiting = Instant::now();
    while server.fetches.load(Ordering::SeqCst) == fetches
        && waiting.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.fetches.load(Ordering::SeqCst) > fetches,
        "refreshed after the outage"
    );
    Ok(())
}

/// A replica that starts while the key endpoint is down has nothing cached: it cannot check a
/// token, and says so (unavailable: retry) rather than rejecting it (a 401 signs users out).
#[tokio::test]
async fn a_cold_start_during_an_outage_is_unavailable_not_unauthorized() -> anyhow::Result<()> {
    let server = KeyServer::default();
    let key = SigningKey::generate("current")?;
    server
        .published
        .lock()
        .expect("lock")
        .push((key.kid.clone(), RsaPublicKey::from(&key.private)));
    server.outage.store(true, Ordering::SeqCst);
    let verifier = FirebaseVerifier::new(PROJECT, serve(server.clone()).await?);
    assert_eq!(
        verifier.verify(&key.sign(&claims("alice"))?).await,
        Err(AuthError::Unavailable)
    );
    // Back: after the backoff, the keys are fetched and the same token passes.
    server.outage.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        verifier
            .verify(&key.sign(&claims("alice"))?)
            .await?
            .firebase_uid,
        "alice"
    );
    Ok(())
}
