//! `/metrics`: Djinn's counters move by exactly what a test did, the Temporal SDK's worker
//! metrics ride along, the scrape passes `promtool check metrics`, and in production it
//! answers only the ops token.

use djinn_tests::{spawn_api_running_workflows, spawn_app_with, transfer_replay_and_refusal};
use secrecy::SecretString;
use serde_json::json;

/// The value of the sample `series` (name and labels exactly as exposed), 0 when absent.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

async fn scrape(address: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut request = reqwest::Client::new().get(format!("{address}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await?;
    Ok((answer.status().as_u16(), answer.text().await?))
}

fn repository_file(path: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path),
    )
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The metric names a scrape serves.
fn exposed_names(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next().map(str::to_owned))
        .collect()
}

/// The metric names PromQL expressions read: each expression follows `marker` in `text` and
/// runs to the end of its line (JSON) or its indented block (YAML). Label matchers, ranges,
/// strings and `by (...)` lists are dropped; what is left that is not a function or keyword is
/// a metric name.
fn queried_names(text: &str, marker: &str) -> std::collections::BTreeSet<String> {
    const KEYWORDS: [&str; 9] = [
        "sum",
        "by",
        "rate",
        "increase",
        "histogram_quantile",
        "without",
        "and",
        "or",
        "le",
    ];
    let mut names = std::collections::BTreeSet::new();
    for (_, rest) in text
        .match_indices(marker)
        .map(|(at, _)| text.split_at(at + marker.len()))
    {
        let expr: String = if marker.ends_with('|') {
            rest.lines()
                .skip(1)
                .take_while(|line| line.starts_with("          "))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            rest.split("\",")
                .next()
                .unwrap_or_default()
                .replace("\\\"", "\"")
        };
        let mut plain = String::new();
        let mut depth_skip: Option<char> = None;
        for c in expr.chars() {
            match (depth_skip, c) {
                (None, '{') => depth_skip = Some('}'),
                (None, '[') => depth_skip = Some(']'),
                (None, '"') => depth_skip = Some('"'),
                (Some(end), c) if c == end => depth_skip = None,
                (Some(_), _) => {}
                (None, c) => plain.push(c),
            }
        }
        let mut plain = plain
            .replace("by (", "by(")
            .replace("without (", "without(");
        for grouping in ["by(", "without("] {
            while let Some(at) = plain.find(grouping) {
                let close = plain[at..].find(')').map_or(plain.len(), |c| at + c + 1);
                plain.replace_range(at..close, " ");
            }
        }
        let mut rest = plain.as_str();
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let word = &tail[..end];
            let after = tail[end..].trim_start();
            if !after.starts_with('(') && !KEYWORDS.contains(&word) {
                names.insert(word.to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

fn promtool() -> String {
    std::env::var("DJINN_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned())
}

#[tokio::test]
async fn the_counters_move_by_exactly_what_was_done_and_promtool_accepts_them() -> anyhow::Result<()>
{
    let app = spawn_api_running_workflows().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;
    let (_, before) = scrape(&app.address, None).await?;

    transfer_replay_and_refusal(&alice, "metered", (&from, &to), "10.00").await?;
    let graphql = format!("{}/graphql", app.address);
    let anonymous = app
        .http
        .post(&graphql)
        .json(&json!({"query": "{ accounts { totalCount } }"}))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let invalid = alice.graphql("{ noSuchField }", json!({})).await?;
    assert!(invalid["errors"].is_array(), "{invalid}");

    let (status, after) = scrape(&app.address, None).await?;
    assert_eq!(status, 200);
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved("requests_total{operation=\"createTransfer\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        moved("request_duration_seconds_count{operation=\"createTransfer\"}"),
        3.0
    );
    assert_eq!(
        moved("idempotent_replays_total{operation=\"createTransfer\"}"),
        1.0
    );
    assert_eq!(moved("transfers_total{code=\"\",outcome=\"posted\"}"), 1.0);
    assert_eq!(
        moved("ledger_step_duration_seconds_count{step=\"reserve_and_post_transfer\"}"),
        1.0
    );
    assert_eq!(
        moved("requests_total{operation=\"none\",outcome=\"unauthenticated\"}"),
        1.0
    );
    assert_eq!(
        moved("requests_total{operation=\"invalid\",outcome=\"error\"}"),
        1.0
    );
    assert_eq!(moved("rate_limited_total"), 0.0);
    assert!(sample(&after, "active_users") >= 1.0, "alice is active");
    assert!(
        after
            .lines()
            .any(|line| line.starts_with("build_info{commit=") && line.ends_with(" 1"))
    );
    assert!(after.contains("db_pool_connections{pool=\"api\",state=\"idle\"}"));
    assert!(after.contains("db_pool_max_connections{pool=\"api-worker\"} 4"));
    // The SDK's own worker metrics, from its exporter.
    assert!(
        after.contains("temporal_worker_task_slots_available"),
        "the SDK's metrics are appended"
    );
    assert!(
        !after.contains("10.00") && !after.contains("alice"),
        "no amount, no user in a metric"
    );

    let exposed = exposed_names(&after);
    let dashboard = queried_names(
        &repository_file("deploy/grafana/djinn.json"),
        "\"expr\": \"",
    );
    for expected in [
        "requests_total",
        "request_duration_seconds_bucket",
        "transfers_total",
        "temporal_worker_task_slots_available",
        "db_pool_connections",
    ] {
        assert!(
            dashboard.contains(expected),
            "the dashboard reads {expected}: {dashboard:?}"
        );
    }
    for name in dashboard {
        assert!(
            exposed.contains(&name),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }
    // The alerts' own names too, but the SDK's failure counter, which appears with the first failure.
    for name in queried_names(&repository_file("deploy/prometheus/alerts.yaml"), "expr: |") {
        let later = name == "temporal_workflow_task_execution_failed_total";
        assert!(
            later || exposed.contains(&name),
            "an alert reads {name}, which /metrics does not serve"
        );
    }

    let mut check = tokio::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    use tokio::io::AsyncWriteExt;
    let mut stdin = check.stdin.take().expect("piped");
    stdin.write_all(after.as_bytes()).await?;
    drop(stdin);
    let checked = check.wait_with_output().await?;
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn in_production_metrics_answer_only_the_ops_token() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| {
        config.production = true;
        config.ops_token = Some(SecretString::from("ops-secret".to_owned()));
    })
    .await?;
    assert_eq!(scrape(&app.address, None).await?.0, 401);
    assert_eq!(scrape(&app.address, Some("not-it")).await?.0, 401);
    let (status, text) = scrape(&app.address, Some("ops-secret")).await?;
    assert_eq!(status, 200);
    assert!(text.contains("build_info"));

    let unguarded = spawn_app_with(|config| config.production = true).await?;
    assert_eq!(
        scrape(&unguarded.address, None).await?.0,
        404,
        "not served without a token"
    );
    Ok(())
}
