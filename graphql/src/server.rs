//! The HTTP server: `Application::build` binds the listener (port 0 in tests) and
//! `run_until_stopped` serves until the shutdown future resolves.

use crate::auth::{self, AuthError, Principal, TokenVerifier};
use crate::schema::{self, CurrentUser, DjinnSchema};
use crate::user_cache::UserCache;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use temporalio_client::Client;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

/// Largest request body accepted, in bytes.
pub const REQUEST_BODY_MAX_BYTES: usize = 64 * 1024;

/// What the API needs to run, resolved from the environment by the binary (or by a test).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen_addr: SocketAddr,
}

/// Shared by every request.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub temporal: Client,
    pub task_queue: String,
    pub verifier: Arc<dyn TokenVerifier>,
}

#[derive(Clone)]
struct ServerState {
    app: AppState,
    schema: DjinnSchema,
    users: Arc<UserCache>,
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &ApiConfig, app: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr).await?;
        let schema = schema::build(app.clone());
        let state = ServerState {
            app,
            schema,
            users: Arc::default(),
        };
        let router = Router::new()
            .route("/graphql", get(graphiql).post(graphql))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            // The GraphQL extractor reads the body itself, so the limit wraps the body stream.
            .layer(RequestBodyLimitLayer::new(REQUEST_BODY_MAX_BYTES))
            .with_state(state);
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(
    State(state): State<ServerState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let principal = match auth::bearer_token(&headers) {
        Ok(token) => state.app.verifier.verify(token).await,
        Err(error) => Err(error),
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(error) => return unauthorized(&error),
    };
    let user = match current_user(&state, &principal).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let response: GraphQLResponse = state
        .schema
        .execute(request.into_inner().data(user))
        .await
        .into();
    response.into_response()
}

async fn current_user(state: &ServerState, principal: &Principal) -> Result<CurrentUser, Response> {
    state
        .users
        .resolve(&state.app.pool, &principal.firebase_uid)
        .await
        .map(CurrentUser)
        .map_err(|error| {
            tracing::error!(%error, "cannot resolve the user");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"errors": [{"message": "service unavailable"}]})),
            )
                .into_response()
        })
}

fn unauthorized(error: &AuthError) -> Response {
    let body = serde_json::json!({"errors": [{"message": format!("unauthenticated: {error}"), "extensions": {"code": "UNAUTHENTICATED"}}]});
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(body),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when both Postgres and Temporal answer.
async fn readyz(State(state): State<ServerState>) -> Response {
    let database = sqlx::query("SELECT 1")
        .execute(&state.app.pool)
        .await
        .is_ok();
    let mut temporal = state.app.temporal.clone();
    let temporal_ok = temporalio_client::grpc::WorkflowService::get_system_info(
        &mut temporal,
        temporalio_client::tonic::Request::new(Default::default()),
    )
    .await
    .is_ok();
    let status = if database && temporal_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({"postgres": database, "temporal": temporal_ok})),
    )
        .into_response()
}
