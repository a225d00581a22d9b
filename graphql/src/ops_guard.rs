//! The operators' endpoints (the codec endpoints for the Temporal UI, `/metrics` for
//! Prometheus) answer only a request carrying the ops bearer token (DJINN_OPS_TOKEN), checked
//! before any body is read. Without a token they are open in development (on a loopback
//! address only: the api refuses otherwise) and not served at all in production.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The token the operators' endpoints require; `None` in development without one.
#[derive(Clone)]
pub struct OpsToken(pub Option<Arc<SecretString>>);

impl OpsToken {
    /// The guard for `production`, or `None` when the endpoints must not be served at all.
    pub fn for_environment(token: Option<SecretString>, production: bool) -> Option<Self> {
        if token.is_none() && production {
            return None;
        }
        Some(Self(token.map(Arc::new)))
    }

    /// Whether `headers` carry the token, compared in constant time; if not, why.
    fn admits(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(expected) = &self.0 else {
            return Ok(());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or("no bearer token")?;
        let matches = presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes());
        if bool::from(matches) {
            Ok(())
        } else {
            Err("another token than the ops token")
        }
    }
}

/// Answers 401 before the request's body is read, unless it carries the ops token. The answer
/// says nothing of why; the log does.
pub async fn require_ops_token(
    State(token): State<OpsToken>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(why) = token.admits(request.headers()) {
        tracing::info!(
            why,
            path = request.uri().path(),
            "operators' endpoint refused: unauthenticated"
        );
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorised",
        )
            .into_response();
    }
    next.run(request).await
}
