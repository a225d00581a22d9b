//! Temporal's remote codec endpoints (`POST /codec/encode`, `POST /codec/decode`), so that
//! authorised staff see decrypted payloads in the Temporal Web UI while the server only ever
//! stores ciphertext. The UI's "Codec Server" setting points at `<api>/codec`.
//!
//! Guarded by the ops bearer token (`crate::ops_guard`): without one the endpoints are open in
//! development (the local UI has no way to send a token) and not served at all in production.

use crate::ops_guard::{OpsToken, require_ops_token};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use djinn_temporal::codec::{CodecError, EncryptionCodec};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
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
    let Some(guard) = OpsToken::for_environment(ops_token, production) else {
        tracing::warn!("the codec endpoints are off: DJINN_OPS_TOKEN is not set");
        return None;
    };
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
    let state = CodecState { codec };
    Some(
        Router::new()
            .route("/codec/encode", post(encode))
            .route("/codec/decode", post(decode))
            // Before any body is read: a caller without the token costs no upload.
            .route_layer(middleware::from_fn_with_state(guard, require_ops_token))
            .layer(RequestBodyLimitLayer::new(CODEC_BODY_MAX_BYTES))
            .layer(cors)
            .with_state(state),
    )
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
