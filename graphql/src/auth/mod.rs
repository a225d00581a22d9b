//! Who is calling: bearer tokens in, a Firebase uid out.
//!
//! The seam is [`TokenVerifier`]: [`FirebaseVerifier`] checks real Firebase ID tokens (RS256,
//! Google's published keys); [`EmulatorTokenVerifier`] accepts the Firebase Auth emulator's
//! unsigned tokens, only while FIREBASE_AUTH_EMULATOR_HOST is set (Firebase's own convention,
//! which `make dev` follows) and never in production.

mod emulator;
mod firebase;

pub use emulator::EmulatorTokenVerifier;
pub use firebase::{FIREBASE_JWKS_URL, FirebaseVerifier};

use axum::http::{HeaderMap, header};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

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
    /// The token cannot be checked now (no usable signing keys: their endpoint is down): the
    /// caller should retry, not sign out.
    #[error("signing keys unavailable")]
    Unavailable,
}

pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + 'a>>;

pub trait TokenVerifier: Send + Sync + fmt::Debug {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;
}

/// Longest Firebase uid we accept (Firebase's own limit is 128 characters).
pub const UID_MAX_BYTES: usize = 128;
/// Tolerated clock difference when checking `exp`, `iat` and `auth_time`.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// The subject as a principal: non-empty and within Firebase's bounds.
fn principal(sub: Option<String>) -> Result<Principal, AuthError> {
    match sub {
        Some(sub) if !sub.is_empty() && sub.len() <= UID_MAX_BYTES => {
            Ok(Principal { firebase_uid: sub })
        }
        _ => Err(AuthError::Rejected("missing subject")),
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
