//! What every HTTP response promises browsers: security headers on all of them, and which
//! origins may call the GraphQL endpoint (CORS). The codec endpoints have their own allow-list.

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// GraphiQL (development only) loads its scripts and styles from a CDN and runs inline code.
const CSP_DEVELOPMENT: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; \
     style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'";
/// An API that serves no pages needs nothing.
const CSP_PRODUCTION: &str = "default-src 'none'; frame-ancestors 'none'";
/// One year, as browsers' preload lists expect.
const HSTS: &str = "max-age=31536000; includeSubDomains";
/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// CORS for the GraphQL endpoint: only the listed origins, only what a client needs.
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(CORS_MAX_AGE)
}

/// Middleware: nosniff, frame denial, no referrer, a CSP for the mode, and HSTS when the request
/// reached us through TLS.
pub async fn security_headers(
    State(production): State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Behind a TLS-terminating proxy the request arrives as plain HTTP with X-Forwarded-Proto.
    let behind_tls = request
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if production {
        CSP_PRODUCTION
    } else {
        CSP_DEVELOPMENT
    };
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    if behind_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
