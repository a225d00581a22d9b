//! The WebSocket endpoint of the subscriptions (`/graphql/ws`), speaking `graphql-transport-ws`
//! only (the protocol of the `graphql-ws` library; the older Apollo protocol is refused). The
//! client signs in with the same Firebase token as over HTTP, in `connection_init`'s payload
//! (`{"token": "..."}` or `{"Authorization": "Bearer ..."}`): a connection without a valid one
//! is closed before any subscription starts, and each of its subscriptions acts for its user
//! only, counted against the same per-user rate limit when it connects.

use crate::schema::{self, CurrentUser};
use crate::server::{ServerState, current_user};
use async_graphql::{Data, Error};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The one protocol served.
const PROTOCOL: &str = "graphql-transport-ws";

pub(crate) async fn graphql_ws(
    State(state): State<ServerState>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !offered.split(',').any(|offer| offer.trim() == PROTOCOL) {
        return (
            StatusCode::BAD_REQUEST,
            "subscriptions speak the graphql-transport-ws protocol",
        )
            .into_response();
    }
    let schema = state.schema.clone();
    upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| signed_in(state, payload))
            .serve()
    })
}

/// The data of a connection whose `connection_init` carries a valid token: its user and the
/// loaders acting for it.
async fn signed_in(state: ServerState, payload: Value) -> async_graphql::Result<Data> {
    let token = payload
        .get("token")
        .and_then(Value::as_str)
        .or_else(|| {
            ["Authorization", "authorization"]
                .iter()
                .find_map(|name| payload.get(*name).and_then(Value::as_str))
                .and_then(|value| value.strip_prefix("Bearer "))
        })
        .ok_or_else(|| Error::new("unauthorized"))?;
    let principal = state.app.verifier.verify(token).await.map_err(|error| {
        tracing::info!(%error, "a subscription's token was refused");
        Error::new("unauthorized")
    })?;
    if state.rate_limiter.check(&principal.firebase_uid).is_err() {
        return Err(Error::new("too many requests"));
    }
    let user: CurrentUser = current_user(&state, &principal)
        .await
        .map_err(|_| Error::new("service unavailable"))?;
    let mut data = Data::default();
    data.insert(user);
    schema::loaders::for_request(&state.app.pool, user.0).insert_into(&mut data);
    Ok(data)
}
