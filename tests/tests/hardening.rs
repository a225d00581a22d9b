//! Hostile requests are refused cheaply: every limit of `djinn_graphql::limits` and every
//! security header, crossed or checked over real HTTP.

use djinn_graphql::limits::{ALIASES_MAX, QUERY_DEPTH_MAX};
use djinn_ledger as ledger;
use djinn_store::users;
use djinn_tests::ledger_steps::{new_account, register_opening};
use djinn_tests::{spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

fn error_messages(body: &Value) -> String {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["message"].to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn depth_complexity_aliases_and_page_size_are_bounded() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");

    // Introspection types nest without end: deeper than the limit is refused.
    let mut deep = String::from("name");
    for _ in 0..QUERY_DEPTH_MAX {
        deep = format!("ofType {{ {deep} }}");
    }
    let body = alice
        .graphql(
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
        )
        .await?;
    assert!(error_messages(&body).contains("nested too deep"), "{body}");

    // A full page of transfers with both accounts each is too much work for one request.
    let expensive = "{ operations(first: 100) { edges { node { id kind status workflowId createdAt updatedAt transfer {
        id status workflowId description createdAt amount { amount currency }
        fromAccount { id name kind currency createdAt balance { amount currency } availableBalance { amount currency } }
        toAccount { id name kind currency createdAt balance { amount currency } availableBalance { amount currency } } } } } } }";
    let body = alice.graphql(expensive, json!({})).await?;
    assert!(
        error_messages(&body).to_lowercase().contains("complex"),
        "{body}"
    );
    let reasonable = alice
        .graphql(
            "{ accounts(first: 100) { edges { node { id name balance { amount currency } } } } }",
            json!({}),
        )
        .await?;
    assert!(reasonable.get("errors").is_none(), "{reasonable}");

    let aliased = |n: usize| {
        format!(
            "{{ {} }}",
            (0..n)
                .map(|i| format!("a{i}: me {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let body = alice.graphql(&aliased(ALIASES_MAX + 1), json!({})).await?;
    assert!(error_messages(&body).contains("aliases"), "{body}");
    let body = alice.graphql(&aliased(ALIASES_MAX), json!({})).await?;
    assert!(body.get("errors").is_none(), "{body}");

    // More than a page of accounts (written straight to the ledger): at most 100 come back.
    let user = users::ensure_user(&app.db, "alice").await?;
    for _ in 0..101 {
        let bulk = new_account(user, "Bulk", 0)?;
        register_opening(&app.db, &bulk).await?;
        ledger::open_account(&app.db, &bulk).await?;
    }
    let page = alice
        .data(
            "{ accounts(first: 500) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await?;
    assert_eq!(
        page["accounts"]["edges"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(page["accounts"]["pageInfo"]["hasNextPage"], true);
    let negative = alice
        .graphql(
            "{ accounts(first: -1) { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    assert!(!error_messages(&negative).is_empty());
    Ok(())
}

#[tokio::test]
async fn each_user_is_rate_limited_with_retry_after() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.rate_limit_per_minute = 5).await?;
    let url = format!("{}/graphql", app.address);
    let me = json!({"query": "{ me { id } }"});
    let ask_as = |uid: &str| {
        app.http
            .post(&url)
            .bearer_auth(djinn_tests::token_for(uid))
            .json(&me)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(ask_as("alice").await?.status(), 200);
    }
    let limited = ask_as("alice").await?;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let bob = ask_as("bob").await?;
    assert_eq!(bob.status(), 200, "limits are per user");
    Ok(())
}

#[tokio::test]
async fn slow_requests_time_out() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.request_timeout = Duration::from_millis(1)).await?;
    // Opening an account waits for its workflow: far longer than a millisecond.
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(djinn_tests::token_for("alice"))
        .json(&json!({"query": "mutation { openAccount(input: {name: \"A\", kind: CASH, currency: \"USD\"}) { account { id } } }"}))
        .send()
        .await?;
    assert_eq!(response.status(), 408);
    Ok(())
}

#[tokio::test]
async fn production_turns_off_introspection_and_graphiql() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.production = true).await?;
    let graphiql = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await?;
    assert!(graphiql.status().is_client_error(), "{}", graphiql.status());
    assert_eq!(
        graphiql
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    let body = app
        .client("alice")
        .graphql("{ __schema { types { name } } }", json!({}))
        .await?;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection must reveal nothing: {body}"
    );
    let ordinary = app.client("alice").data("{ me { id } }", json!({})).await?;
    assert!(ordinary["me"]["id"].is_string());
    Ok(())
}

#[tokio::test]
async fn security_headers_and_cors() -> anyhow::Result<()> {
    let app =
        spawn_app_with(|config| config.cors_origins = vec!["https://app.djinn.example".into()])
            .await?;
    let plain = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await?;
    assert_eq!(
        plain
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert_eq!(
        plain
            .headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    assert!(plain.headers().get("content-security-policy").is_some());
    assert!(
        plain.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let tls = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("x-forwarded-proto", "https")
        .send()
        .await?;
    assert!(
        tls.headers().get("strict-transport-security").is_some(),
        "HSTS behind TLS"
    );

    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.djinn.example").await?;
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.djinn.example")
    );
    let refused = preflight("https://evil.example").await?;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn server_faults_reveal_nothing_inside() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    alice.data("{ me { id } }", json!({})).await?;
    // Break the database under the API: the client learns that something failed, not what.
    sqlx::query("ALTER TABLE accounts RENAME TO accounts_moved_away")
        .execute(&app.db)
        .await?;
    let body = alice
        .graphql("{ accounts { edges { node { id name } } } }", json!({}))
        .await?;
    let messages = error_messages(&body);
    assert!(messages.contains("internal error"), "{body}");
    for leak in [
        "accounts_moved_away",
        "relation",
        "SELECT",
        "sqlx",
        "postgres",
        "panicked",
    ] {
        assert!(!body.to_string().contains(leak), "{leak:?} leaked: {body}");
    }
    Ok(())
}
