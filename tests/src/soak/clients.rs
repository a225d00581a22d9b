//! The soak's clients: each signs in as its own user and keeps making operations (transfers
//! below and above the approval threshold, approvals, cancellations, reversals) until the soak
//! has made its count. A request that gets no answer (the api was killed, the database is
//! restarting) is repeated with the same idempotency key until it gets one, as a careful
//! client does; every repeat is counted.

use crate::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a client keeps repeating one request before the soak fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(180);

/// What the clients did, shared by all of them.
#[derive(Default)]
pub struct Tally {
    /// Operations begun; clients stop at the soak's count.
    pub begun: AtomicUsize,
    /// Requests repeated for want of an answer.
    pub repeats: AtomicUsize,
    /// Answers by kind of operation and outcome.
    pub answers: Mutex<BTreeMap<String, usize>>,
}

impl Tally {
    fn answered(&self, operation: &str, outcome: &str) {
        let mut answers = self.answers.lock().expect("not poisoned");
        *answers.entry(format!("{operation} {outcome}")).or_default() += 1;
    }
}

/// A small deterministic generator (xorshift): the soak needs variety, not secrecy.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// Repeats `request` until it is answered (no transport error, no GraphQL error).
async fn answered<F, R>(tally: &Tally, request: F) -> anyhow::Result<Value>
where
    F: Fn() -> R,
    R: Future<Output = anyhow::Result<Value>>,
{
    let started = Instant::now();
    loop {
        match request().await {
            Ok(answer) => return Ok(answer),
            Err(error) if started.elapsed() > ANSWER_WITHIN => {
                anyhow::bail!("no answer within {ANSWER_WITHIN:?}: {error}")
            }
            Err(_) => {
                tally.repeats.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// The transfer's status once it left PENDING (reads repeated through faults).
async fn settled(client: &Client, tally: &Tally, id: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let transfer = answered(tally, || client.transfer(id)).await?;
        let status = transfer["status"].as_str().unwrap_or("?").to_owned();
        if status != "PENDING" {
            return Ok(status);
        }
        anyhow::ensure!(started.elapsed() < ANSWER_WITHIN, "{id} stayed PENDING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One client's loop: `(checking, savings)` are its accounts.
pub async fn operate(
    client: Client,
    accounts: (String, String),
    seed: u64,
    operations: usize,
    tally: &Tally,
) -> anyhow::Result<()> {
    let mut dice = Dice::new(seed);
    let mut made: Vec<String> = Vec::new();
    let mut n = 0;
    while tally.begun.fetch_add(1, Ordering::Relaxed) < operations {
        n += 1;
        let key = format!("soak-{seed}-{n}");
        let (from, to) = if dice.roll(2) == 0 {
            (&accounts.0, &accounts.1)
        } else {
            (&accounts.1, &accounts.0)
        };
        match dice.roll(20) {
            0..=9 => {
                let amount = format!("{}.{:02}", 1 + dice.roll(40), dice.roll(100));
                let id = transfer(&client, tally, &key, from, to, &amount).await?;
                made.extend(id);
            }
            10..=15 => {
                let amount = format!("{}.00", 50 + dice.roll(30));
                let Some(id) = transfer(&client, tally, &key, from, to, &amount).await? else {
                    continue;
                };
                decide(&client, tally, &id, dice.roll(10), &mut made).await?;
            }
            _ => {
                if made.is_empty() {
                    continue;
                }
                let original = made.swap_remove(dice.roll(made.len() as u64) as usize);
                reverse(&client, tally, &key, &original).await?;
            }
        }
    }
    Ok(())
}

/// Creates a transfer: its id, or none when it was refused.
async fn transfer(
    client: &Client,
    tally: &Tally,
    key: &str,
    from: &str,
    to: &str,
    amount: &str,
) -> anyhow::Result<Option<String>> {
    let created = answered(tally, || {
        client.create_transfer(key, from, to, amount, "USD")
    })
    .await?;
    match created["transfer"]["id"].as_str() {
        Some(id) => {
            tally.answered("createTransfer", "registered");
            Ok(Some(id.to_owned()))
        }
        None => {
            let code = created["userErrors"][0]["code"].as_str().unwrap_or("?");
            tally.answered("createTransfer", code);
            Ok(None)
        }
    }
}

/// Approves (half the time), cancels, or leaves to expire a transfer once it awaits approval.
async fn decide(
    client: &Client,
    tally: &Tally,
    id: &str,
    roll: u64,
    made: &mut Vec<String>,
) -> anyhow::Result<()> {
    if settled(client, tally, id).await? != "AWAITING_APPROVAL" {
        return Ok(());
    }
    let (operation, answer) = match roll {
        0..=4 => (
            "approveTransfer",
            answered(tally, || client.approve_transfer(id)).await?,
        ),
        5..=7 => (
            "cancelTransfer",
            answered(tally, || client.cancel_transfer(id, Some("soak"))).await?,
        ),
        _ => return Ok(()),
    };
    tally.begun.fetch_add(1, Ordering::Relaxed);
    let outcome = match answer["transfer"]["status"].as_str() {
        Some(status) => status.to_owned(),
        None => answer["userErrors"][0]["code"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
    };
    if outcome == "POSTED" {
        made.push(id.to_owned());
    }
    tally.answered(operation, &outcome);
    Ok(())
}

/// Reverses a transfer this client made, once it settled (refusals are answers too).
async fn reverse(client: &Client, tally: &Tally, key: &str, original: &str) -> anyhow::Result<()> {
    if settled(client, tally, original).await? != "POSTED" {
        return Ok(());
    }
    let query = "mutation($input: ReverseTransferInput!) { reverseTransfer(input: $input) { \
                 transfer { id } userErrors { code } } }";
    let input = serde_json::json!({"input": {"transferId": original, "idempotencyKey": key}});
    let answer = answered(tally, || client.data(query, input.clone())).await?;
    let outcome = if answer["reverseTransfer"]["transfer"]["id"].is_string() {
        "registered"
    } else {
        answer["reverseTransfer"]["userErrors"][0]["code"]
            .as_str()
            .unwrap_or("?")
    };
    tally.answered("reverseTransfer", outcome);
    Ok(())
}
