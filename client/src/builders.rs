//! Builders for the mutations' inputs, so that each mutation's text and input shape is written
//! once: `NewAccount::new("Card", "EUR").kind("CREDIT_CARD").overdraft_limit("50.00")`.

use crate::Client;
use serde_json::{Map, Value, json};

/// The `openAccount` mutation, selecting everything the tests read of its payload.
pub const OPEN_ACCOUNT: &str = "mutation($input: OpenAccountInput!) { openAccount(input: $input) {
    account { id name kind balance { amount currency } availableBalance { amount currency }
              overdraftLimit { amount currency } }
    userErrors { field code message } } }";

/// The `createTransfer` mutation, selecting what clients read of a new transfer.
pub const CREATE_TRANSFER: &str =
    "mutation($input: CreateTransferInput!) { createTransfer(input: $input) {
    transfer { id status workflowId amount { amount currency } description }
    userErrors { field code message } } }";

/// An `openAccount` input: a CHECKING account without key, opening balance or overdraft
/// unless told otherwise. Amounts are in the account's currency.
#[derive(Clone, Debug)]
pub struct NewAccount {
    input: Map<String, Value>,
    currency: String,
}

impl NewAccount {
    pub fn new(name: &str, currency: &str) -> Self {
        let input = json!({"name": name, "kind": "CHECKING", "currency": currency});
        Self {
            input: input.as_object().cloned().unwrap_or_default(),
            currency: currency.to_owned(),
        }
    }

    pub fn kind(self, kind: &str) -> Self {
        self.with("kind", json!(kind))
    }

    pub fn idempotency_key(self, key: &str) -> Self {
        self.with("idempotencyKey", json!(key))
    }

    pub fn opening_balance(self, amount: &str) -> Self {
        let money = json!({"amount": amount, "currency": self.currency});
        self.with("openingBalance", money)
    }

    pub fn overdraft_limit(self, amount: &str) -> Self {
        let money = json!({"amount": amount, "currency": self.currency});
        self.with("overdraftLimit", money)
    }

    /// Sets any field of the input as given, for inputs no well-behaved client sends.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.input.insert(field.to_owned(), value);
        self
    }

    pub fn input(&self) -> Value {
        Value::Object(self.input.clone())
    }

    /// Sends the mutation and returns the whole response body (top-level errors included).
    pub async fn send_raw(&self, client: &Client) -> anyhow::Result<Value> {
        send_raw(client, OPEN_ACCOUNT, &self.input).await
    }

    /// Sends the mutation and returns its payload (account and userErrors); fails on top-level
    /// errors.
    pub async fn send(&self, client: &Client) -> anyhow::Result<Value> {
        send(client, OPEN_ACCOUNT, "openAccount", &self.input).await
    }
}

/// A `createTransfer` input.
#[derive(Clone, Debug)]
pub struct NewTransfer {
    input: Map<String, Value>,
}

impl NewTransfer {
    pub fn new(key: &str, from: &str, to: &str, amount: &str, currency: &str) -> Self {
        let input = json!({"idempotencyKey": key, "fromAccountId": from, "toAccountId": to,
                           "amount": {"amount": amount, "currency": currency}});
        Self {
            input: input.as_object().cloned().unwrap_or_default(),
        }
    }

    pub fn description(self, description: &str) -> Self {
        self.with("description", json!(description))
    }

    /// Sets any field of the input as given, for inputs no well-behaved client sends.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.input.insert(field.to_owned(), value);
        self
    }

    pub fn input(&self) -> Value {
        Value::Object(self.input.clone())
    }

    /// Sends the mutation and returns the whole response body (top-level errors included).
    pub async fn send_raw(&self, client: &Client) -> anyhow::Result<Value> {
        send_raw(client, CREATE_TRANSFER, &self.input).await
    }

    /// Sends the mutation and returns its payload (transfer and userErrors); fails on top-level
    /// errors.
    pub async fn send(&self, client: &Client) -> anyhow::Result<Value> {
        send(client, CREATE_TRANSFER, "createTransfer", &self.input).await
    }
}

/// Sends `mutation` with `input` and returns the whole response body.
async fn send_raw(
    client: &Client,
    mutation: &str,
    input: &Map<String, Value>,
) -> anyhow::Result<Value> {
    client.graphql(mutation, json!({"input": input})).await
}

/// Sends `mutation` with `input` and returns its payload, the field `field` of `data`.
async fn send(
    client: &Client,
    mutation: &str,
    field: &str,
    input: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let data = client.data(mutation, json!({"input": input})).await?;
    Ok(data[field].clone())
}
