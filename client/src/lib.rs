//! A GraphQL client of Djinn as its web and mobile clients use it: HTTP, a bearer token, the
//! mutations of the contract. The tests and the benchmark share it, so neither builds requests
//! its own way, and the benchmark does not depend on the test harness.
//!
//! Tokens are the Firebase Auth emulator's unsigned ones, which an api accepts only in
//! development; `builders` spells each mutation's input once.

pub mod builders;
mod decisions;
mod statements;
mod token;

pub use builders::{CREATE_TRANSFER, NewAccount, NewTransfer, OPEN_ACCOUNT};
pub use decisions::TRANSFER_FIELDS;
pub use statements::{IMPORT_FIELDS, RUN_FIELDS, Upload};
pub use token::{PROJECT_ID, token_for, unsigned_token};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long a client waits for a transfer to leave PENDING before it gives up.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A signed-in GraphQL client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Base URL of the API, e.g. http://127.0.0.1:41234
    pub address: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Client {
    /// A client of the api at `address`, signed in as the emulator user `uid`.
    pub fn new(address: &str, uid: &str, http: reqwest::Client) -> Self {
        Self {
            address: address.to_owned(),
            token: token_for(uid),
            http,
        }
    }

    /// POSTs a GraphQL request and returns the whole response body; fails on non-200.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// Like [`Client::graphql`], but fails on top-level errors and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = self.graphql(query, variables).await?;
        if body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("GraphQL errors: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Opens a checking account and returns its global id. Like a careful client, it sends a
    /// fresh idempotency key with each opening (one with a balance needs one).
    pub async fn open_account(
        &self,
        name: &str,
        currency: &str,
        opening: Option<&str>,
    ) -> anyhow::Result<String> {
        let key = format!("open-{}", uuid::Uuid::now_v7().simple());
        let mut account = NewAccount::new(name, currency).idempotency_key(&key);
        if let Some(amount) = opening {
            account = account.opening_balance(amount);
        }
        let payload = account.send(self).await?;
        payload["account"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("openAccount failed: {payload}"))
    }

    /// The set-up most transfer tests start from: a USD checking account opened with `opening`
    /// and an empty USD savings account; returns their global ids (from, to).
    pub async fn checking_and_savings(&self, opening: &str) -> anyhow::Result<(String, String)> {
        let checking = self.open_account("Checking", "USD", Some(opening)).await?;
        let savings = self.open_account("Savings", "USD", None).await?;
        Ok((checking, savings))
    }

    /// Sends createTransfer and returns the payload (transfer and userErrors).
    pub async fn create_transfer(
        &self,
        key: &str,
        from: &str,
        to: &str,
        amount: &str,
        currency: &str,
    ) -> anyhow::Result<Value> {
        NewTransfer::new(key, from, to, amount, currency)
            .send(self)
            .await
    }

    /// Polls the transfer until it leaves PENDING, and returns it.
    pub async fn settled_transfer(&self, id: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let data = self
                .data(
                    "query($id: ID!) { transfer(id: $id) { id status failureCode workflowId amount { amount currency } } }",
                    json!({"id": id}),
                )
                .await?;
            let transfer = data["transfer"].clone();
            if transfer["status"] != "PENDING" {
                return Ok(transfer);
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                bail!("transfer {id} still PENDING after {SETTLE_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// (balance, availableBalance) of an account as GraphQL shows them.
    pub async fn balances(&self, account: &str) -> anyhow::Result<(String, String)> {
        let data = self
            .data("query($id: ID!) { account(id: $id) { balance { amount } availableBalance { amount } } }", json!({"id": account}))
            .await?;
        let amount = |field: &str| {
            data["account"][field]["amount"]
                .as_str()
                .map(str::to_owned)
                .context("an amount")
        };
        Ok((amount("balance")?, amount("availableBalance")?))
    }
}
