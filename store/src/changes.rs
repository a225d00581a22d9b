//! Live changes of the projections, for GraphQL subscriptions. The database says when a
//! transfer's status or an account's balances change: a NOTIFY on `djinn_changes`, sent by a
//! trigger in the transaction that made the change (migrations/..._change_notifications.sql).
//! Each api process holds one LISTEN connection and fans the notifications out on a broadcast
//! channel; every subscription filters it and reads what changed as its user. No subscriber
//! polls the database or Temporal.
//!
//! LISTEN needs a session of its own: behind a pooler in transaction mode (PgBouncer) it must
//! use the database's direct URL. A notification sent while the connection was down is lost,
//! so after a reconnect every subscriber is told to read again ([`Change::Resync`]).

use crate::StoreError;
use djinn_domain::{AccountId, OperationId};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The channel the triggers notify on.
pub const CHANNEL: &str = "djinn_changes";
/// How many changes a slow subscriber may fall behind before it is told to read again.
const BACKLOG: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Transfer(OperationId),
    Account(AccountId),
    /// Changes may have been missed (the listener reconnected, a subscriber fell behind):
    /// every subscriber reads its object again.
    Resync,
}

impl Change {
    fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(' ')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "transfer" => Some(Change::Transfer(OperationId::from_uuid(id))),
            "account" => Some(Change::Account(AccountId::from_uuid(id))),
            _ => None,
        }
    }
}

/// The fan-out of one process's LISTEN connection.
#[derive(Clone, Debug)]
pub struct Changes {
    sender: broadcast::Sender<Change>,
}

impl Changes {
    /// Connects to `database_url` (direct, not through a transaction-mode pooler), listens,
    /// and fans out on a task of its own for as long as the process runs.
    pub async fn listen(database_url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(database_url)?.application_name("djinn-listener");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let (sender, _) = broadcast::channel(BACKLOG);
        tokio::spawn(fan_out(listener, sender.clone()));
        Ok(Self { sender })
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}

async fn fan_out(mut listener: PgListener, sender: broadcast::Sender<Change>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(change) = Change::parse(notification.payload()) {
                    // No subscriber right now is not an error.
                    let _ = sender.send(change);
                }
            }
            // The connection was lost; the next call reconnects and listens again.
            Ok(None) => {
                tracing::warn!("the change listener lost its connection; reconnecting");
                let _ = sender.send(Change::Resync);
            }
            Err(error) => {
                tracing::error!(%error, "the change listener cannot reconnect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = sender.send(Change::Resync);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_kind_and_an_id() {
        let id = Uuid::now_v7();
        assert_eq!(
            Change::parse(&format!("transfer {id}")),
            Some(Change::Transfer(OperationId::from_uuid(id)))
        );
        assert_eq!(
            Change::parse(&format!("account {id}")),
            Some(Change::Account(AccountId::from_uuid(id)))
        );
        assert_eq!(Change::parse("transfer nope"), None);
        assert_eq!(Change::parse(&format!("user {id}")), None);
    }
}
