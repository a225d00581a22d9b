//! Djinn's own Prometheus metrics: what the api and the workers count, in one registry per
//! process. Not the `prometheus` crate's global registry: the test suite runs many stacks in one
//! process, and each must count only its own work. The Temporal SDK's worker metrics come from
//! the SDK's own exporter and are appended when `/metrics` is served (`djinn::metrics`).
//!
//! Labels are bounded: a request's `operation` is the first root field of a validated GraphQL
//! operation (the schema's field names), never the client's operation name or a path, and an
//! outcome or a code is one of a fixed set.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Request latency buckets, in seconds: fine around the 200 ms p95 target.
pub const REQUEST_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 10.0,
];
/// Ledger step latency buckets, in seconds: a step is a few milliseconds when all is well.
pub const STEP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// A user counts as active for this long after a request.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The outcome of a request, as `requests_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered without a GraphQL error (a refusal in `userErrors` is an answer).
    Ok,
    /// Answered with an error: invalid, or failed inside.
    Error,
    /// Refused before GraphQL: no valid token.
    Unauthenticated,
    /// Refused before GraphQL: over the user's rate.
    RateLimited,
    /// Refused before GraphQL: a dependency (the signing keys, the database) is unavailable.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unauthenticated => "unauthenticated",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The metrics of one process; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    active_users: IntGauge,
    recent_users: Mutex<HashMap<String, Instant>>,
    transfers: IntCounterVec,
    ledger_step_duration: HistogramVec,
    idempotent_replays: IntCounterVec,
    rate_limited: IntCounter,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    pools: Mutex<Vec<(String, PoolProbe)>>,
    /// The Temporal SDK's exporter, whose text is appended to ours.
    sdk: Mutex<Option<String>>,
    http: reqwest::Client,
}

/// A pool's connections: (in use, idle, most it opens).
pub type PoolProbe = Box<dyn Fn() -> (u32, u32, u32) + Send + Sync>;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry
        .register(Box::new(counter.clone()))
        .expect("registered once");
    counter
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let histogram = HistogramVec::new(opts, labels).expect("a valid histogram");
    registry
        .register(Box::new(histogram.clone()))
        .expect("registered once");
    histogram
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
    registry
        .register(Box::new(gauge.clone()))
        .expect("registered once");
    gauge
}

impl Metrics {
    /// A fresh registry with every metric, and `build_info` set to `version` and `commit`.
    pub fn new(version: &str, commit: &str) -> Self {
        let registry = Registry::new();
        let r = &registry;
        let build_info = gauge(
            r,
            "build_info",
            "The running build: always 1.",
            &["version", "commit"],
        );
        build_info.with_label_values(&[version, commit]).set(1);
        let active_users = IntGauge::new(
            "active_users",
            "Distinct users with a request in the last 5 minutes.",
        )
        .expect("a valid gauge");
        registry
            .register(Box::new(active_users.clone()))
            .expect("registered once");
        let rate_limited = IntCounter::new(
            "rate_limited_total",
            "Requests refused for exceeding a user's rate.",
        )
        .expect("a valid counter");
        registry
            .register(Box::new(rate_limited.clone()))
            .expect("registered once");
        Self(Arc::new(Inner {
            requests: counter(
                r,
                "requests_total",
                "GraphQL requests by operation (first root field) and outcome.",
                &["operation", "outcome"],
            ),
            request_duration: histogram(
                r,
                "request_duration_seconds",
                "GraphQL request latency by operation.",
                &["operation"],
                &REQUEST_BUCKETS,
            ),
            transfers: counter(
                r,
                "transfers_total",
                "Transfers settled by this process: posted, or voided with a code.",
                &["outcome", "code"],
            ),
            ledger_step_duration: histogram(
                r,
                "ledger_step_duration_seconds",
                "Ledger step latency by step, retries included.",
                &["step"],
                &STEP_BUCKETS,
            ),
            idempotent_replays: counter(
                r,
                "idempotent_replays_total",
                "Requests answered with the operation an earlier request with the same key made.",
                &["operation"],
            ),
            pool_connections: gauge(
                r,
                "db_pool_connections",
                "Database connections by pool and state (in_use, idle).",
                &["pool", "state"],
            ),
            pool_max: gauge(
                r,
                "db_pool_max_connections",
                "The most connections a pool opens.",
                &["pool"],
            ),
            active_users,
            recent_users: Mutex::default(),
            pools: Mutex::default(),
            sdk: Mutex::default(),
            http: reqwest::Client::new(),
            rate_limited,
            registry,
        }))
    }

    /// A GraphQL request answered (or refused before GraphQL, with operation `none`).
    pub fn request(&self, operation: &str, outcome: Outcome, took: Duration) {
        self.0
            .requests
            .with_label_values(&[operation, outcome.as_str()])
            .inc();
        if matches!(outcome, Outcome::Ok | Outcome::Error) {
            self.0
                .request_duration
                .with_label_values(&[operation])
                .observe(took.as_secs_f64());
        }
        if outcome == Outcome::RateLimited {
            self.0.rate_limited.inc();
        }
    }

    /// A request by `user` (an internal or Firebase id: only counted, never exported).
    pub fn saw_user(&self, user: &str) {
        lock(&self.0.recent_users).insert(user.to_owned(), Instant::now());
    }

    pub fn transfer_posted(&self) {
        self.0.transfers.with_label_values(&["posted", ""]).inc();
    }

    pub fn transfer_voided(&self, code: &str) {
        self.0.transfers.with_label_values(&["voided", code]).inc();
    }

    pub fn ledger_step(&self, step: &str, took: Duration) {
        self.0
            .ledger_step_duration
            .with_label_values(&[step])
            .observe(took.as_secs_f64());
    }

    pub fn idempotent_replay(&self, operation: &str) {
        self.0
            .idempotent_replays
            .with_label_values(&[operation])
            .inc();
    }

    /// A pool to report (`db_pool_connections`), read each time the metrics are served.
    pub fn watch_pool(&self, pool: &str, probe: PoolProbe) {
        lock(&self.0.pools).push((pool.to_owned(), probe));
    }

    /// Appends the Temporal SDK's metrics, which its exporter serves at `url`, to every scrape.
    pub fn append_sdk_metrics(&self, url: String) {
        *lock(&self.0.sdk) = Some(url);
    }

    /// Ours and the SDK's, in Prometheus's text format: what `/metrics` serves.
    pub async fn scrape(&self) -> String {
        let mut text = self.render();
        let sdk = lock(&self.0.sdk).clone();
        if let Some(url) = sdk {
            match self.0.http.get(&url).send().await {
                Ok(answer) => text.push_str(&answer.text().await.unwrap_or_default()),
                Err(error) => text.push_str(&format!(
                    "# the Temporal SDK's metrics are missing: {error}\n"
                )),
            }
        }
        text
    }

    /// Everything, in Prometheus's text format.
    pub fn render(&self) -> String {
        for (pool, probe) in lock(&self.0.pools).iter() {
            let (in_use, idle, max) = probe();
            let connections = &self.0.pool_connections;
            connections
                .with_label_values(&[pool, "in_use"])
                .set(i64::from(in_use));
            connections
                .with_label_values(&[pool, "idle"])
                .set(i64::from(idle));
            self.0
                .pool_max
                .with_label_values(&[pool])
                .set(i64::from(max));
        }
        let active = {
            let mut recent = lock(&self.0.recent_users);
            recent.retain(|_, seen| seen.elapsed() < ACTIVE_WINDOW);
            recent.len()
        };
        self.0
            .active_users
            .set(i64::try_from(active).unwrap_or(i64::MAX));
        TextEncoder::new()
            .encode_to_string(&self.0.registry.gather())
            .unwrap_or_default()
    }
}

/// A lock that a panic elsewhere does not poison for good: counts are worth more than a panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_the_text_format() {
        let metrics = Metrics::new("0.1.0", "abc123");
        metrics.request("createTransfer", Outcome::Ok, Duration::from_millis(120));
        metrics.request("none", Outcome::RateLimited, Duration::ZERO);
        metrics.saw_user("alice");
        metrics.saw_user("alice");
        metrics.saw_user("bob");
        metrics.transfer_voided("INSUFFICIENT_FUNDS");
        let text = metrics.render();
        assert!(
            text.contains("requests_total{operation=\"createTransfer\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "request_duration_seconds_bucket{operation=\"createTransfer\",le=\"0.15\"} 1"
        ));
        assert!(text.contains(
            "request_duration_seconds_bucket{operation=\"createTransfer\",le=\"0.1\"} 0"
        ));
        assert!(text.contains("rate_limited_total 1"));
        assert!(text.contains("active_users 2"));
        assert!(text.contains("transfers_total{code=\"INSUFFICIENT_FUNDS\",outcome=\"voided\"} 1"));
        assert!(text.contains("build_info{commit=\"abc123\",version=\"0.1.0\"} 1"));
    }
}
