//! Probes for Djinn in containers. The images have no shell and no curl, so the binary is its
//! own health check (`djinn healthcheck`, the images' HEALTHCHECK); and a worker, which serves
//! nothing, gets a listener of its own (`DJINN_METRICS_ADDR`) answering `/healthz` (the process
//! runs) and `/readyz` (PostgreSQL answers), as the api does, so that compose and orchestrators
//! can check it too, and serving the worker's `/metrics` (its own and the SDK's). That address
//! is for operators and Prometheus: not published, so no token guards it.

use axum::{
    Router,
    http::{StatusCode, header},
    routing::get,
};
use djinn_metrics::Metrics;
use djinn_store::{PgPool, db};
use std::{net::SocketAddr, time::Duration};

/// How long `djinn healthcheck` waits for an answer.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The `/healthz` of the api on this machine: DJINN_API_ADDR's port, else PORT's, else 8080,
/// on the loopback address (the api listens on every address when PORT is set).
pub fn local_health_url() -> String {
    let port = std::env::var("DJINN_API_ADDR")
        .ok()
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .map(|addr| addr.port())
        .or_else(|| std::env::var("PORT").ok()?.parse().ok())
        .unwrap_or(8080);
    format!("http://127.0.0.1:{port}/healthz")
}

/// Whether `url` answers 200 within the timeout.
pub async fn healthcheck(url: &str) -> anyhow::Result<()> {
    let answer = reqwest::Client::builder()
        .timeout(HEALTHCHECK_TIMEOUT)
        .build()?
        .get(url)
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "{url} answered {}",
        answer.status()
    );
    Ok(())
}

/// Serves the worker's probes on `addr` in the background.
pub async fn serve_worker_probes(
    addr: SocketAddr,
    pool: PgPool,
    metrics: Metrics,
) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.scrape().await,
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|| async move {
                if db::ping(&pool).await {
                    (StatusCode::OK, "ready")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "PostgreSQL does not answer",
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the worker's probe listener stopped");
        }
    });
    Ok(bound)
}
