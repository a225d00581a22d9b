//! Firebase Auth emulator tokens: unsigned JWTs with Firebase's claims, which an api accepts
//! only in development with FIREBASE_AUTH_EMULATOR_HOST set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The Firebase project the tests' and the benchmark's apis accept tokens for.
pub const PROJECT_ID: &str = "djinn-test";

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
