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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const PROJECT: &str = "djinn-prod";

#[derive(Clone, Default)]
struct KeyServer {
    published: Arc<Mutex<Vec<(String, RsaPublicKey)>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(server): State<KeyServer>) -> impl IntoResponse {
    server.fetches.fetch_add(1, Ordering::SeqCst);
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
            "public, max-age=3600, must-revalidate",
        )],
        axum::Json(json!({"keys": keys})),
    )
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
