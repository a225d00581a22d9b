//! The HTTP surface: authentication, GraphiQL, health.

use djinn_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let url = format!("{}/graphql", app.address);
    let query = json!({"query": "{ me { id } }"});
    let missing = app.http.post(&url).json(&query).send().await?;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let garbage = app
        .http
        .post(&url)
        .bearer_auth("not-a-token")
        .json(&query)
        .send()
        .await?;
    assert_eq!(garbage.status(), 401);
    let now = chrono::Utc::now().timestamp();
    let refused = [
        json!({"iss": "https://securetoken.google.com/someone-else", "aud": "someone-else", "sub": "alice", "exp": now + 60}),
        json!({"iss": "https://securetoken.google.com/djinn-test", "aud": "djinn-test", "sub": "alice", "exp": now - 3600}),
        json!({"iss": "https://securetoken.google.com/djinn-test", "aud": "djinn-test", "exp": now + 60}),
    ];
    let mut answers = vec![garbage.json::<serde_json::Value>().await?];
    for claims in refused {
        let response = app
            .http
            .post(&url)
            .bearer_auth(djinn_tests::unsigned_token(&claims))
            .json(&query)
            .send()
            .await?;
        assert_eq!(response.status(), 401, "{claims}");
        answers.push(response.json().await?);
    }
    // Every refusal reads the same: why a token was refused goes to the log, not to a caller
    // probing which tokens come closer.
    for answer in answers {
        assert_eq!(
            answer["errors"][0]["message"], "unauthenticated",
            "{answer}"
        );
    }

    let ok = app.client("alice").data("{ me { id } }", json!({})).await?;
    assert!(ok["me"]["id"].is_string());
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(users, 1, "a user row is created on first sight, once");
    app.client("alice").data("{ me { id } }", json!({})).await?;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(users, 1);
    Ok(())
}

#[tokio::test]
async fn graphiql_health_and_readiness_are_served() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let graphiql = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await?;
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await?.to_lowercase().contains("graphiql"));
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.address))
            .send()
            .await?
            .status(),
        200
    );
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await?;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await?,
        json!({"postgres": true, "temporal": true})
    );
    Ok(())
}

#[tokio::test]
async fn oversized_bodies_are_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let huge = "x".repeat(djinn_graphql::REQUEST_BODY_MAX_BYTES + 1);
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(djinn_tests::token_for("alice"))
        .json(&json!({"query": format!("{{ me {{ id }} }} # {huge}")}))
        .send()
        .await?;
    assert_eq!(response.status(), 413);
    Ok(())
}
