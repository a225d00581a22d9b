//! Temporal's remote codec endpoints (`POST /codec/encode`, `POST /codec/decode`), so that
//! authorised staff see decrypted payloads in the Temporal Web UI while the server only ever
//! stores ciphertext. The UI's "Codec Server" setting points at `<api>/codec`.
//!
//! Guarded by the ops bearer token (DJINN_OPS_TOKEN). Without one the endpoints are open in
//! development (the local UI has no way to send a token) and not served at all in production.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use djinn_temporal::codec::{CodecError, EncryptionCodec};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use temporalio_common::protos::temporal::api::common::v1::Payload;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

/// Most payloads one codec request may carry.
pub const CODEC_PAYLOADS_MAX: usize = 1_000;
/// Largest codec request body: a page of history's payloads, not a GraphQL query.
pub const CODEC_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct CodecState {
    codec: EncryptionCodec,
    ops_token: Option<Arc<SecretString>>,
}

/// Payloads in the protobuf JSON mapping the UI speaks: bytes as base64.
#[derive(Serialize, Deserialize)]
struct Payloads {
    payloads: Vec<JsonPayload>,
}

#[derive(Serialize, Deserialize)]
struct JsonPayload {
    #[serde(default)]
    metadata: HashMap<String, String>,
    #[serde(default)]
    data: String,
}

/// The codec routes, or none when they must not be served.
pub fn router(
    codec: Option<EncryptionCodec>,
    ops_token: Option<SecretString>,
    production: bool,
    cors_origins: &[String],
) -> Option<Router> {
    let codec = codec?;
    if ops_token.is_none() && production {
        tracing::warn!("the codec endpoints are off: DJINN_OPS_TOKEN is not set");
        return None;
    }
    let origins: Vec<HeaderValue> = cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-namespace"),
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600));
    let state = CodecState {
        codec,
        ops_token: ops_token.map(Arc::new),
    };
    Some(
        Router::new()
            .route("/codec/encode", post(encode))
            .route("/codec/decode", post(decode))
            // Before any body is read: a caller without the token costs no upload.
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_ops_token,
            ))
            .layer(RequestBodyLimitLayer::new(CODEC_BODY_MAX_BYTES))
            .layer(cors)
            .with_state(state),
    )
}

/// Answers 401 before the request's body is read, unless it carries the ops token (or none
/// is configured, as development on a loopback address allows). The answer says nothing of
/// why; the log does.
async fn require_ops_token(
    State(state): State<CodecState>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(why) = authorised(&state, request.headers()) {
        tracing::info!(why, "codec request refused: unauthenticated");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorised",
        )
            .into_response();
    }
    next.run(request).await
}

async fn encode(State(state): State<CodecState>, Json(body): Json<Payloads>) -> Response {
    transform(&state, body, |codec, payloads| codec.encrypt_all(payloads))
}

async fn decode(State(state): State<CodecState>, Json(body): Json<Payloads>) -> Response {
    transform(&state, body, |codec, payloads| codec.decrypt_all(payloads))
}

fn transform(
    state: &CodecState,
    body: Payloads,
    apply: impl Fn(&EncryptionCodec, &[Payload]) -> Result<Vec<Payload>, CodecError>,
) -> Response {
    if body.payloads.len() > CODEC_PAYLOADS_MAX {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too many payloads").into_response();
    }
    let Some(payloads) = body
        .payloads
        .into_iter()
        .map(from_json)
        .collect::<Option<Vec<_>>>()
    else {
        return (StatusCode::BAD_REQUEST, "payloads must be base64").into_response();
    };
    match apply(&state.codec, &payloads) {
        Ok(payloads) => Json(Payloads {
            payloads: payloads.into_iter().map(to_json).collect(),
        })
        .into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

/// Whether the request carries the ops token, compared in constant time; if not, why.
fn authorised(state: &CodecState, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(expected) = &state.ops_token else {
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

fn from_json(payload: JsonPayload) -> Option<Payload> {
    let metadata = payload
        .metadata
        .into_iter()
        .map(|(key, value)| STANDARD.decode(value).ok().map(|value| (key, value)))
        .collect::<Option<HashMap<_, _>>>()?;
    Some(Payload {
        metadata,
        data: STANDARD.decode(payload.data).ok()?,
        ..Default::default()
    })
}

fn to_json(payload: Payload) -> JsonPayload {
    JsonPayload {
        metadata: payload
            .metadata
            .into_iter()
            .map(|(key, value)| (key, STANDARD.encode(value)))
            .collect(),
        data: STANDARD.encode(payload.data),
    }
}
