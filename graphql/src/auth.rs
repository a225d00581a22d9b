//! Who is calling: bearer tokens in, a Firebase uid out.
//!
//! The seam is [`TokenVerifier`]. Today two implementations exist: the Firebase Auth emulator's
//! unsigned tokens, accepted only while FIREBASE_AUTH_EMULATOR_HOST is set (Firebase's own
//! convention, which `make dev` follows), and a verifier that refuses everything, used when no
//! real verification is configured. RS256 verification against Google's keys plugs in here.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::fmt;

/// The caller, as proven by their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub firebase_uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token rejected: {0}")]
    Rejected(&'static str),
}

pub trait TokenVerifier: Send + Sync + fmt::Debug {
    fn verify(&self, token: &str) -> Result<Principal, AuthError>;
}

/// Longest Firebase uid we accept (Firebase's own limit is 128 characters).
const UID_MAX_BYTES: usize = 128;
/// Tolerated clock difference when checking `exp` and `iat`.
const CLOCK_SKEW_SECONDS: i64 = 60;

/// Accepts Firebase Auth emulator tokens: unsigned JWTs whose issuer and audience name the
/// configured project. Only ever constructed when FIREBASE_AUTH_EMULATOR_HOST is set.
#[derive(Debug, Clone)]
pub struct EmulatorTokenVerifier {
    project_id: String,
}

impl EmulatorTokenVerifier {
    pub fn new(project_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
}

impl TokenVerifier for EmulatorTokenVerifier {
    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
        let issuer = format!("https://securetoken.google.com/{}", self.project_id);
        if claims.iss.as_deref() != Some(issuer.as_str()) {
            return Err(AuthError::Rejected("wrong issuer"));
        }
        if claims.aud.as_deref() != Some(self.project_id.as_str()) {
            return Err(AuthError::Rejected("wrong audience"));
        }
        let now = chrono::Utc::now().timestamp();
        if claims.exp.is_some_and(|exp| exp + CLOCK_SKEW_SECONDS < now) {
            return Err(AuthError::Rejected("expired"));
        }
        if claims.iat.is_some_and(|iat| iat - CLOCK_SKEW_SECONDS > now) {
            return Err(AuthError::Rejected("issued in the future"));
        }
        match claims.sub {
            Some(sub) if !sub.is_empty() && sub.len() <= UID_MAX_BYTES => {
                Ok(Principal { firebase_uid: sub })
            }
            _ => Err(AuthError::Rejected("missing subject")),
        }
    }
}

/// Refuses every token: what runs when neither the emulator nor real verification is set up.
#[derive(Debug, Clone, Default)]
pub struct UnconfiguredVerifier;

impl TokenVerifier for UnconfiguredVerifier {
    fn verify(&self, _token: &str) -> Result<Principal, AuthError> {
        Err(AuthError::Rejected("token verification is not configured"))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    fn verifier() -> EmulatorTokenVerifier {
        EmulatorTokenVerifier::new("djinn-dev")
    }

    #[test]
    fn accepts_emulator_tokens_of_the_project() {
        let t = token(
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": "alice"}),
        );
        assert_eq!(
            verifier().verify(&t),
            Ok(Principal {
                firebase_uid: "alice".into()
            })
        );
    }

    #[test]
    fn refuses_other_projects_expired_and_subjectless_tokens() {
        let now = chrono::Utc::now().timestamp();
        let cases = [
            json!({"iss": "https://securetoken.google.com/other", "aud": "djinn-dev", "sub": "a"}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "other", "sub": "a"}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": "a", "exp": now - 3600}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": ""}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev"}),
        ];
        for claims in cases {
            assert!(
                verifier().verify(&token(claims.clone())).is_err(),
                "{claims}"
            );
        }
        assert_eq!(verifier().verify("not-a-jwt"), Err(AuthError::Malformed));
        assert!(
            UnconfiguredVerifier
                .verify(&token(json!({"sub": "a"})))
                .is_err()
        );
    }
}
