//! What the Temporal server did, read from its Prometheus endpoint (`--metrics-port`): the
//! persistence requests it made, by operation, and the time its one history shard spent writing
//! and waiting to write. On the dev server the shard writes one request at a time (its IO
//! semaphore), so those times bound the workflows/s; unlike a rate, a request count is the same
//! however fast the machine happens to be.

use std::collections::BTreeMap;

/// Counters of the server, cumulative since it started.
#[derive(Debug, Clone, Default)]
pub struct ServerCounters {
    /// Persistence requests by operation.
    pub requests: BTreeMap<String, f64>,
    /// Calls the frontend served (from the API, the worker and the benchmark), by method.
    pub calls: BTreeMap<String, f64>,
    /// Seconds spent in the shard's writes (creating and updating workflow executions).
    pub shard_write_seconds: f64,
    /// Seconds requests spent waiting for the shard's IO semaphore.
    pub shard_wait_seconds: f64,
}

impl ServerCounters {
    pub async fn read(http: &reqwest::Client, url: &str) -> anyhow::Result<Self> {
        let text = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut counters = Self::default();
        for line in text.lines() {
            let Some((name, rest)) = line.split_once('{') else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let Some(operation) = labels
                .split(',')
                .find_map(|label| label.strip_prefix("operation=\""))
                .map(|op| op.trim_end_matches('"'))
            else {
                continue;
            };
            let value: f64 = value.trim().parse()?;
            match (name, operation) {
                ("persistence_requests", _) => {
                    *counters.requests.entry(operation.to_owned()).or_insert(0.0) += value;
                }
                ("service_requests", _) if labels.contains("service_name=\"frontend\"") => {
                    *counters.calls.entry(operation.to_owned()).or_insert(0.0) += value;
                }
                (
                    "persistence_latency_sum",
                    "CreateWorkflowExecution" | "UpdateWorkflowExecution",
                ) => counters.shard_write_seconds += value,
                ("semaphore_latency_sum", "ShardInfo") => counters.shard_wait_seconds += value,
                _ => {}
            }
        }
        Ok(counters)
    }

    /// Adds what happened between `before` and `after` to these counters.
    pub fn add_difference(&mut self, before: &Self, after: &Self) {
        for (mine, before, after) in [
            (&mut self.requests, &before.requests, &after.requests),
            (&mut self.calls, &before.calls, &after.calls),
        ] {
            for (operation, count) in after {
                let earlier = before.get(operation).copied().unwrap_or(0.0);
                *mine.entry(operation.clone()).or_insert(0.0) += count - earlier;
            }
        }
        self.shard_write_seconds += after.shard_write_seconds - before.shard_write_seconds;
        self.shard_wait_seconds += after.shard_wait_seconds - before.shard_wait_seconds;
    }

    /// Prints these counters divided over `workflows`: the totals, then each operation that
    /// occurs at least once in twenty workflows.
    pub fn print_per_workflow(&self, phase: &str, workflows: usize) {
        let each = workflows.max(1) as f64;
        let total: f64 = self.requests.values().sum();
        println!(
            "  server per workflow ({phase}): {:.2} persistence requests, shard writing {:.1} ms, waiting for the shard {:.1} ms",
            total / each,
            1000.0 * self.shard_write_seconds / each,
            1000.0 * self.shard_wait_seconds / each,
        );
        for (operation, count) in &self.requests {
            if count / each >= 0.05 {
                println!("      {operation:<32} {:6.2}", count / each);
            }
        }
        println!(
            "    frontend calls per workflow: {:.2}",
            self.calls.values().sum::<f64>() / each
        );
        for (method, count) in &self.calls {
            if count / each >= 0.05 {
                println!("      {method:<32} {:6.2}", count / each);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_writes_and_waits_by_operation() {
        let text = r#"# HELP persistence_requests
persistence_requests{namespace="default",operation="CreateWorkflowExecution",service_name="history"} 3
persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 6
persistence_requests{namespace="default",operation="CreateWorkflowExecution",service_name="frontend"} 1
persistence_latency_sum{namespace="default",operation="CreateWorkflowExecution",service_name="history"} 0.5
persistence_latency_sum{namespace="default",operation="GetWorkflowExecution",service_name="history"} 9
persistence_latency_sum{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 0.25
semaphore_latency_sum{operation="ShardInfo",service_name="history"} 2
semaphore_latency_count{operation="ShardInfo",service_name="history"} 7
service_requests{namespace="default",operation="StartWorkflowExecution",service_name="frontend"} 5
service_requests{namespace="default",operation="StartWorkflowExecution",service_name="history"} 5
"#;
        let counters = ServerCounters::parse(text).expect("well-formed metrics");
        assert_eq!(counters.requests["CreateWorkflowExecution"], 4.0);
        assert_eq!(counters.requests["UpdateWorkflowExecution"], 6.0);
        assert_eq!(counters.shard_write_seconds, 0.75);
        assert_eq!(counters.shard_wait_seconds, 2.0);
        assert_eq!(counters.calls["StartWorkflowExecution"], 5.0);

        let mut phase = ServerCounters::default();
        phase.add_difference(&ServerCounters::default(), &counters);
        phase.add_difference(&counters, &counters);
        assert_eq!(phase.requests["UpdateWorkflowExecution"], 6.0);
        assert_eq!(phase.shard_write_seconds, 0.75);
    }
}
