//! Live status: `transferUpdated` and `accountUpdated`, over the `graphql-transport-ws`
//! protocol (`crate::live`). Each subscription sends the object as it is now, then again each
//! time the projections say it changed (`djinn_store::changes`: a NOTIFY sent in the change's
//! own transaction, fanned out by one listener per process), read as the subscription's user.
//! An object that is not the user's (or no longer readable) ends the subscription with nothing
//! sent, exactly like an unknown id.

use super::ids::{self, NodeType};
use super::{Account, Transfer, state};
use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream::{self, StreamExt};
use async_graphql::{Context, ID, Result, Subscription};
use djinn_domain::{AccountId, OperationId};
use djinn_store::changes::Change;
use djinn_store::{StoreError, accounts, operations};
use std::fmt::Debug;
use std::future::Future;
use tokio::sync::broadcast::{Receiver, error::RecvError};

#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The transfer now, then each time its status changes.
    async fn transfer_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Transfer>> {
        let (app, user) = state(ctx)?;
        let id = ids::decode_as(&id, NodeType::Transfer).map(OperationId::from_uuid);
        let receiver = app.changes.subscribe();
        let pool = app.pool.clone();
        Ok(watch(
            receiver,
            move |change| id.is_some_and(|id| change == Change::Transfer(id)),
            move || {
                let pool = pool.clone();
                async move {
                    match id {
                        Some(id) => operations::get_transfer(&pool, user, id).await,
                        None => Ok(None),
                    }
                }
            },
        )
        .map(Transfer))
    }

    /// The account now, then each time its balances or terms change.
    async fn account_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Account>> {
        let (app, user) = state(ctx)?;
        let id = ids::decode_as(&id, NodeType::Account).map(AccountId::from_uuid);
        let receiver = app.changes.subscribe();
        let pool = app.pool.clone();
        Ok(watch(
            receiver,
            move |change| id.is_some_and(|id| change == Change::Account(id)),
            move || {
                let pool = pool.clone();
                async move {
                    match id {
                        Some(id) => accounts::get(&pool, user, id).await,
                        None => Ok(None),
                    }
                }
            },
        )
        .map(Account))
    }
}

/// What one subscription keeps between two sends.
struct Watch {
    receiver: Receiver<Change>,
    /// What was sent last, to send only what differs.
    last: Option<String>,
    started: bool,
}

/// The object `read` returns now, then again after each change `concerns` (or a resync), when
/// it differs from what was sent. Subscribed before the first read, so no change falls between.
fn watch<T, R>(
    receiver: Receiver<Change>,
    concerns: impl Fn(Change) -> bool + Send + Sync + 'static,
    read: impl Fn() -> R + Send + Sync + 'static,
) -> impl Stream<Item = T>
where
    T: Debug + Send + 'static,
    R: Future<Output = Result<Option<T>, StoreError>> + Send,
{
    let state = Watch {
        receiver,
        last: None,
        started: false,
    };
    let (concerns, read) = (std::sync::Arc::new(concerns), std::sync::Arc::new(read));
    stream::unfold(state, move |mut state| {
        let (concerns, read) = (concerns.clone(), read.clone());
        async move {
            loop {
                if state.started {
                    match state.receiver.recv().await {
                        Ok(change) if change == Change::Resync || concerns(change) => {}
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                }
                state.started = true;
                let current = match read().await {
                    Ok(Some(current)) => current,
                    Ok(None) => return None,
                    Err(error) => {
                        tracing::warn!(%error, "a subscription could not read its object");
                        continue;
                    }
                };
                let seen = format!("{current:?}");
                if state.last.as_ref() != Some(&seen) {
                    state.last = Some(seen);
                    return Some((current, state));
                }
            }
        }
    })
}
