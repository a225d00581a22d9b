//! The GraphQL client the tests talk through (`djinn-client`, shared with the benchmark), and
//! reading back the global ids it is given.

pub use djinn_client::{
    CREATE_TRANSFER, Client, NewAccount, NewTransfer, OPEN_ACCOUNT, PROJECT_ID, SETTLE_TIMEOUT,
    token_for, unsigned_token,
};
use djinn_domain::AccountId;

/// The account behind a global id the API gave out.
pub fn account_id(global_id: &str) -> AccountId {
    AccountId::from_uuid(
        djinn_graphql::schema::ids::decode(global_id)
            .expect("an account id")
            .1,
    )
}

/// The three answers of a money path every end-to-end flow checks: a transfer of `amount`
/// under `key`, settled; the same request again, answered with the same transfer; and one over
/// the balance, refused with INSUFFICIENT_FUNDS. The transfer's id.
pub async fn transfer_replay_and_refusal(
    client: &Client,
    key: &str,
    (from, to): (&str, &str),
    amount: &str,
) -> anyhow::Result<String> {
    let created = client.create_transfer(key, from, to, amount, "USD").await?;
    anyhow::ensure!(created["userErrors"] == serde_json::json!([]), "{created}");
    let id = created["transfer"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    client.settled_transfer(&id).await?;
    let repeated = client.create_transfer(key, from, to, amount, "USD").await?;
    anyhow::ensure!(
        repeated["transfer"]["id"] == serde_json::json!(id),
        "{repeated}"
    );
    let refused = client
        .create_transfer("too-much", from, to, "1000000.00", "USD")
        .await?;
    anyhow::ensure!(
        refused["userErrors"][0]["code"] == serde_json::json!("INSUFFICIENT_FUNDS"),
        "{refused}"
    );
    Ok(id)
}

/// Sends `createTransfer` of `amount` USD with `description` and one more `header` (an
/// `x-request-id`, a `traceparent`), and returns the answer's body.
pub async fn transfer_with_header(
    client: &Client,
    (header, value): (&str, &str),
    key: &str,
    (from, to): (&str, &str),
    (amount, description): (&str, &str),
) -> anyhow::Result<serde_json::Value> {
    Ok(client
        .http
        .post(format!("{}/graphql", client.address))
        .bearer_auth(&client.token)
        .header(header, value)
        .json(
            &serde_json::json!({"query": CREATE_TRANSFER, "variables": {"input": {
            "idempotencyKey": key, "fromAccountId": from, "toAccountId": to,
            "amount": {"amount": amount, "currency": "USD"}, "description": description}}}),
        )
        .send()
        .await?
        .json()
        .await?)
}

/// [`transfer_with_header`], awaited until the transfer settles: its id.
pub async fn settled_transfer_with_header(
    client: &Client,
    header: (&str, &str),
    key: &str,
    accounts: (&str, &str),
    money: (&str, &str),
) -> anyhow::Result<String> {
    let created = transfer_with_header(client, header, key, accounts, money).await?;
    let id = created["data"]["createTransfer"]["transfer"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no transfer: {created}"))?
        .to_owned();
    client.settled_transfer(&id).await?;
    Ok(id)
}
