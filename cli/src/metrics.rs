//! The process's metrics: Djinn's own (`djinn_metrics`), and the Temporal SDK's worker metrics
//! (slots, polls, sticky cache, task latencies). The SDK exports its metrics only through an
//! HTTP endpoint of its own, with a registry it does not share: it listens on a loopback port,
//! and every scrape of `/metrics` appends its text to ours. Its names all start `temporal_`;
//! ours never do.

use djinn_metrics::Metrics;
use djinn_store::PgPool;
use std::sync::Arc;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{
    PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter,
};
use temporalio_sdk::runtime::RuntimeOptions;

/// What a process measures with: its metrics, and the meter the SDK's workers report to.
#[derive(Clone, Debug)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub sdk_meter: Option<Arc<dyn CoreMeter>>,
}

/// Metrics for this build, without the SDK's (the benchmark's and tests' plain workers).
pub fn for_this_build() -> Metrics {
    Metrics::new(env!("CARGO_PKG_VERSION"), env!("DJINN_COMMIT"))
}

impl Telemetry {
    /// This build's metrics and the SDK's exporter, on a loopback port of its own. Needs a
    /// Tokio runtime.
    pub fn start() -> anyhow::Result<Self> {
        let metrics = for_this_build();
        // Seconds and _total, as Prometheus's conventions (and promtool) want them.
        let options = PrometheusExporterOptions::builder()
            .socket_addr(([127, 0, 0, 1], 0).into())
            .counters_total_suffix(true)
            .unit_suffix(true)
            .use_seconds_for_durations(true)
            .build();
        let sdk = start_prometheus_metric_exporter(options)?;
        metrics.append_sdk_metrics(format!("http://{}/metrics", sdk.bound_addr));
        let sdk_meter: Arc<dyn CoreMeter> = sdk.meter;
        Ok(Self {
            metrics,
            sdk_meter: Some(sdk_meter),
        })
    }

    /// Reports `pool`'s connections as `db_pool_connections{pool=name}`.
    pub fn watch_pool(&self, name: &str, pool: &PgPool) {
        let pool = pool.clone();
        self.metrics.watch_pool(
            name,
            Box::new(move || {
                let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
                let size = pool.size();
                (
                    size.saturating_sub(idle),
                    idle,
                    pool.options().get_max_connections(),
                )
            }),
        );
    }
}

/// The SDK runtime's options: its workers report to `meter` when there is one.
pub fn runtime_options(meter: Option<Arc<dyn CoreMeter>>) -> anyhow::Result<RuntimeOptions> {
    let Some(meter) = meter else {
        return Ok(RuntimeOptions::default());
    };
    let telemetry = TelemetryOptions::builder().metrics(meter).build();
    RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(anyhow::Error::msg)
}
