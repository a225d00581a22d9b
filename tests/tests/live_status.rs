//! Live status over a real WebSocket, `graphql-transport-ws`: a client subscribed to its
//! transfer sees PENDING -> AWAITING_APPROVAL -> POSTED as the projections change, and its
//! account's balances with them; another user's subscription to the same id receives nothing;
//! a connection without a valid token is closed before any subscription, and one speaking
//! another protocol is refused.

use anyhow::{Context, bail};
use djinn_tests::{Client, WorkerThread, spawn_api};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

const TRANSFER_UPDATED: &str =
    "subscription($id: ID!) { transferUpdated(id: $id) { id status voidReason } }";
const ACCOUNT_UPDATED: &str = "subscription($id: ID!) { accountUpdated(id: $id) { \
    balance { amount } availableBalance { amount } } }";

/// A `graphql-transport-ws` connection.
struct Live {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages read while waiting for another subscription's, in order.
    held: Vec<Value>,
}

impl Live {
    /// Opens the socket offering `protocol`; the HTTP answer when the upgrade is refused.
    async fn open(address: &str, protocol: &str) -> anyhow::Result<Result<Self, u16>> {
        let url = format!("{}/graphql/ws", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse()?);
        match connect_async(request).await {
            Ok((socket, _)) => Ok(Ok(Self {
                socket,
                held: Vec::new(),
            })),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Ok(Err(response.status().as_u16()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A signed-in connection: `connection_init` with the client's token, acknowledged.
    async fn signed_in(client: &Client) -> anyhow::Result<Self> {
        let mut live = Self::open(&client.address, "graphql-transport-ws")
            .await?
            .map_err(|status| anyhow::anyhow!("upgrade refused: {status}"))?;
        live.send(json!({"type": "connection_init", "payload": {"token": client.token}}))
            .await?;
        let ack = live.next().await?;
        anyhow::ensure!(ack["type"] == "connection_ack", "not acknowledged: {ack}");
        Ok(live)
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        Ok(self.socket.send(Message::text(message.to_string())).await?)
    }

    async fn subscribe(&mut self, id: &str, query: &str, object: &str) -> anyhow::Result<()> {
        let payload = json!({"query": query, "variables": {"id": object}});
        self.send(json!({"id": id, "type": "subscribe", "payload": payload}))
            .await
    }

    /// The next protocol message (pings answered), or `{"type": "closed", "code": ..}`.
    async fn next(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .context("no message within 30 s")?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    if value["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await?;
                        continue;
                    }
                    return Ok(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|frame| (u16::from(frame.code), frame.reason.to_string()))
                        .unzip();
                    return Ok(json!({"type": "closed", "code": code, "reason": reason}));
                }
                None => return Ok(json!({"type": "closed"})),
                Some(Ok(_)) => continue,
                Some(Err(error)) => bail!("the socket failed: {error}"),
            }
        }
    }

    /// The next `next` message of subscription `id`, its data's `field`.
    async fn next_of(&mut self, id: &str, field: &str) -> anyhow::Result<Value> {
        loop {
            let message = match self.held.iter().position(|held| held["id"] == id) {
                Some(at) => self.held.remove(at),
                None => self.next().await?,
            };
            if message["id"] != id {
                self.held.push(message);
                continue;
            }
            if message["id"] == id && message["type"] == "next" {
                return Ok(message["payload"]["data"][field].clone());
            }
            bail!("subscription {id} ended: {message}");
        }
    }
}

#[tokio::test]
async fn a_subscriber_sees_its_transfer_wait_and_post_and_no_one_else_does() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (checking, savings) = app.accounts_then_no_worker(&alice, "100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    // No worker runs: the transfer stays PENDING until one starts.
    let created = alice
        .create_transfer("live", &checking, &savings, "5.00", "USD")
        .await?;
    let id = created["transfer"]["id"].as_str().context("a transfer")?;

    let mut live = Live::signed_in(&alice).await?;
    live.subscribe("t", TRANSFER_UPDATED, id).await?;
    assert_eq!(
        live.next_of("t", "transferUpdated").await?["status"],
        "PENDING"
    );
    live.subscribe("a", ACCOUNT_UPDATED, &checking).await?;
    let before = live.next_of("a", "accountUpdated").await?;
    assert_eq!(before["availableBalance"]["amount"], "100.00", "{before}");

    // Bob asks for Alice's transfer: his subscription ends with nothing sent.
    let mut bobs = Live::signed_in(&app.client("bob")).await?;
    bobs.subscribe("t", TRANSFER_UPDATED, id).await?;
    let answer = bobs.next().await?;
    assert_eq!(answer["type"], "complete", "{answer}");

    let worker = WorkerThread::start(&app.database_url, &app.task_queue);
    let waiting = live.next_of("t", "transferUpdated").await?;
    assert_eq!(waiting["status"], "AWAITING_APPROVAL", "{waiting}");
    let reserved = live.next_of("a", "accountUpdated").await?;
    assert_eq!(reserved["balance"]["amount"], "100.00", "{reserved}");
    assert_eq!(
        reserved["availableBalance"]["amount"], "95.00",
        "{reserved}"
    );

    let approved = alice.approve_transfer(id).await?;
    assert_eq!(approved["transfer"]["status"], "POSTED", "{approved}");
    assert_eq!(
        live.next_of("t", "transferUpdated").await?["status"],
        "POSTED"
    );
    let posted = live.next_of("a", "accountUpdated").await?;
    assert_eq!(posted["balance"]["amount"], "95.00", "{posted}");

    // Bob's connection heard nothing of it.
    bobs.send(json!({"type": "ping"})).await?;
    let quiet = bobs.next().await?;
    assert_eq!(quiet["type"], "pong", "bob received {quiet}");
    worker.stop();
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn no_token_or_another_protocol_gets_no_subscription() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");

    let old = Live::open(&alice.address, "graphql-ws").await?;
    assert_eq!(old.err(), Some(400), "the Apollo protocol is refused");

    for payload in [json!({}), json!({"token": "not-a-token"})] {
        let mut live = Live::open(&alice.address, "graphql-transport-ws")
            .await?
            .map_err(|status| anyhow::anyhow!("upgrade refused: {status}"))?;
        live.send(json!({"type": "connection_init", "payload": payload}))
            .await?;
        let answer = live.next().await?;
        // Closed before any acknowledgement (async-graphql closes with 1002 and the reason).
        assert_eq!(answer["type"], "closed", "{payload}: {answer}");
        assert_eq!(answer["code"], 1002, "{payload}: {answer}");
        assert_eq!(answer["reason"], "unauthorized", "{payload}: {answer}");
    }
    Ok(())
}
