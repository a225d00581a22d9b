//! The HTTP server: `Application::build` binds the listener (port 0 in tests) and
//! `run_until_stopped` serves until the shutdown future resolves. Every response carries the
//! security headers; GraphQL requests are authenticated, rate limited per user and bounded in
//! size and time (see `limits`).

use crate::auth::{self, AuthError, Principal, TokenVerifier};
use crate::schema::{self, CurrentUser, DjinnSchema};
use crate::user_cache::UserCache;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLResponse;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use djinn_store::PgPool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use temporalio_client::Client;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::codec_server;
use crate::http_policy::{cors, security_headers};
use crate::limits::{
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_REQUEST_TIMEOUT, REQUEST_BODY_MAX_BYTES,
};
use crate::ops_guard::{OpsToken, require_ops_token};
use crate::rate_limit::UserRateLimiter;
use crate::request_id::with_request_id;
use djinn_metrics::{Metrics, Outcome};
use djinn_temporal::codec::EncryptionCodec;
use secrecy::SecretString;
use std::time::Duration;

/// What the API needs to run, resolved from the environment by the binary (or by a test).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen_addr: SocketAddr,
    /// Production turns off introspection and GraphiQL and tightens the CSP.
    pub production: bool,
    /// Browser origins allowed to call the API (CORS); empty allows none.
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub rate_limit_per_minute: u32,
    /// Encrypts workflow payloads; also served to the Temporal UI through the codec endpoints.
    pub codec: Option<EncryptionCodec>,
    /// Guards the operators' endpoints: the codec's and `/metrics` (`crate::ops_guard`).
    pub ops_token: Option<SecretString>,
    /// Temporal UI origins allowed to call the codec endpoints.
    pub codec_cors_origins: Vec<String>,
    /// How long a transfer at or over its owner's approval threshold waits for approval.
    pub approval_timeout: Duration,
    /// The largest statement file `importStatement` accepts, in bytes.
    pub upload_max_bytes: usize,
}

/// A day: time for a person to see a request for approval and decide.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

impl ApiConfig {
    /// Development defaults on the given address.
    pub fn new(listen_addr: SocketAddr) -> Self {
        Self {
            listen_addr,
            production: false,
            cors_origins: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            codec: None,
            ops_token: None,
            codec_cors_origins: Vec::new(),
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
            upload_max_bytes: crate::upload::DEFAULT_UPLOAD_MAX_BYTES,
        }
    }
}

/// Shared by every request.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub temporal: Client,
    pub task_queue: String,
    pub verifier: Arc<dyn TokenVerifier>,
    /// What this process counts (`djinn_metrics`), served at `/metrics`.
    pub metrics: Metrics,
    /// How long a transfer at or over its owner's approval threshold waits for approval.
    pub approval_timeout: Duration,
    /// The projections' changes, for subscriptions (`djinn_store::changes`).
    pub changes: djinn_store::changes::Changes,
}

/// The operation label of a request refused before GraphQL saw it (no token, over its rate).
const REFUSED_BEFORE_GRAPHQL: &str = "none";

#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) app: AppState,
    pub(crate) schema: DjinnSchema,
    users: Arc<UserCache>,
    pub(crate) rate_limiter: Arc<UserRateLimiter>,
    upload_max_bytes: usize,
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: &ApiConfig, app: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr).await?;
        let schema = schema::build(app.clone(), config.production);
        let metrics_state = app.metrics.clone();
        let state = ServerState {
            app,
            schema,
            users: Arc::default(),
            rate_limiter: Arc::new(UserRateLimiter::per_minute(config.rate_limit_per_minute)),
            upload_max_bytes: config.upload_max_bytes,
        };
        let graphql_route = if config.production {
            axum::routing::post(graphql)
        } else {
            get(graphiql).post(graphql)
        };
        let production = config.production;
        let mut router = Router::new()
            .route("/graphql/ws", get(crate::live::graphql_ws))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .layer(RequestBodyLimitLayer::new(REQUEST_BODY_MAX_BYTES))
            // `/graphql` reads its body within its own limits (`upload`): a statement file may
            // be larger than any other request.
            .route("/graphql", graphql_route)
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(cors(&config.cors_origins))
            .with_state(state);
        if let Some(guard) = OpsToken::for_environment(config.ops_token.clone(), production) {
            router = router.merge(
                Router::new()
                    .route("/metrics", get(metrics))
                    .route_layer(axum::middleware::from_fn_with_state(
                        guard,
                        require_ops_token,
                    ))
                    .with_state(metrics_state),
            );
        }
        if let Some(codec_routes) = codec_server::router(
            config.codec.clone(),
            config.ops_token.clone(),
            config.production,
            &config.codec_cors_origins,
        ) {
            router = router.merge(codec_routes);
        }
        let router = router
            .layer(axum::middleware::from_fn_with_state(
                production,
                security_headers,
            ))
            .layer(axum::middleware::from_fn(with_request_id));
        Ok(Self { listener, router })
    }

    /// The application with its router wrapped by `around` (the binary's error reports).
    pub fn wrap(self, around: impl FnOnce(Router) -> Router) -> Self {
        Self {
            router: around(self.router),
            ..self
        }
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
    request: axum::extract::Request,
) -> Response {
    let principal = match auth::bearer_token(&headers) {
        Ok(token) => state.app.verifier.verify(token).await,
        Err(error) => Err(error),
    };
    let refused = |outcome| {
        state
            .app
            .metrics
            .request(REFUSED_BEFORE_GRAPHQL, outcome, Duration::ZERO)
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(AuthError::Unavailable) => {
            refused(Outcome::Unavailable);
            return keys_unavailable();
        }
        Err(error) => {
            refused(Outcome::Unauthenticated);
            return unauthorized(&error);
        }
    };
    if let Err(wait) = state.rate_limiter.check(&principal.firebase_uid) {
        refused(Outcome::RateLimited);
        return too_many_requests(wait);
    }
    let user = match current_user(&state, &principal).await {
        Ok(user) => user,
        Err(response) => {
            refused(Outcome::Unavailable);
            return response;
        }
    };
    let user_id = user.0.to_string();
    tracing::Span::current().record("user_id", user_id.as_str());
    state.app.metrics.saw_user(&user_id);
    let mut request = match crate::upload::read(request, state.upload_max_bytes).await {
        Ok(request) => request.data(user),
        Err(refused) => return refused,
    };
    schema::loaders::for_request(&state.app.pool, user.0).insert_into(&mut request.data);
    let response: GraphQLResponse = state.schema.execute(request).await.into();
    response.into_response()
}

pub(crate) async fn current_user(
    state: &ServerState,
    principal: &Principal,
) -> Result<CurrentUser, Response> {
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

/// 401, saying nothing of why the token was refused: that goes to the log, where operators
/// read it, and not to a caller probing which tokens come closer.
fn unauthorized(error: &AuthError) -> Response {
    tracing::info!(%error, "request refused: unauthenticated");
    let body = serde_json::json!({"errors": [{"message": "unauthenticated", "extensions": {"code": "UNAUTHENTICATED"}}]});
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(body),
    )
        .into_response()
}

/// 503: the token could not be checked now (the signing keys' endpoint is down and nothing
/// usable is cached). A client retries; a 401 would sign its user out.
fn keys_unavailable() -> Response {
    tracing::warn!("request refused: no usable signing keys");
    let body = serde_json::json!({"errors": [{"message": "service unavailable", "extensions": {"code": "UNAVAILABLE"}}]});
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(body),
    )
        .into_response()
}

fn too_many_requests(wait: Duration) -> Response {
    let retry_after = wait.as_secs().max(1).to_string();
    let body = serde_json::json!({"errors": [{"message": "too many requests", "extensions": {"code": "RATE_LIMITED"}}]});
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after)],
        Json(body),
    )
        .into_response()
}

/// Ours and the Temporal SDK's metrics, in Prometheus's text format (behind the ops token).
async fn metrics(State(metrics): State<Metrics>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.scrape().await,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when both Postgres and Temporal answer.
async fn readyz(State(state): State<ServerState>) -> Response {
    let database = djinn_store::db::ping(&state.app.pool).await;
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
