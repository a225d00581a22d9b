//! Batched reads for the resolvers that would otherwise read once per item: a page of
//! operations asks for each one's transfer, each transfer for its two accounts, and a page of
//! ledger entries for each one's counterparty account and operation, a transfer for the one
//! that reversed it. A
//! DataLoader per request (async-graphql's) gathers the keys every resolver of one level asks
//! for and reads them in one query, as the user of the request.

use async_graphql::dataloader::{DataLoader, Loader};
use djinn_domain::{AccountId, OperationId, UserId};
use djinn_store::PgPool;
use djinn_store::accounts::{self, AccountView};
use djinn_store::operations::{self, OperationView, TransferView};
use djinn_store::reversals;
use std::collections::HashMap;

/// The loaders of one request, acting for its user.
pub struct Loaders {
    pub accounts: DataLoader<AccountLoader>,
    pub transfers: DataLoader<TransferLoader>,
    pub operations: DataLoader<OperationLoader>,
    pub reversals: DataLoader<ReversalLoader>,
}

impl Loaders {
    /// Puts every loader in a request's (or a WebSocket connection's) data.
    pub fn insert_into(self, data: &mut async_graphql::Data) {
        data.insert(self.accounts);
        data.insert(self.transfers);
        data.insert(self.operations);
        data.insert(self.reversals);
    }
}

pub fn for_request(pool: &PgPool, user: UserId) -> Loaders {
    let pool = pool.clone();
    Loaders {
        accounts: DataLoader::new(
            AccountLoader {
                pool: pool.clone(),
                user,
            },
            tokio::spawn,
        ),
        transfers: DataLoader::new(
            TransferLoader {
                pool: pool.clone(),
                user,
            },
            tokio::spawn,
        ),
        operations: DataLoader::new(
            OperationLoader {
                pool: pool.clone(),
                user,
            },
            tokio::spawn,
        ),
        reversals: DataLoader::new(ReversalLoader { pool, user }, tokio::spawn),
    }
}

/// The user's own accounts, by id.
pub struct AccountLoader {
    pool: PgPool,
    user: UserId,
}

impl Loader<AccountId> for AccountLoader {
    type Value = AccountView;
    /// Logged where it is handled; the client sees "internal error".
    type Error = String;

    async fn load(&self, ids: &[AccountId]) -> Result<HashMap<AccountId, AccountView>, String> {
        let found = accounts::get_many(&self.pool, self.user, ids)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found
            .into_iter()
            .map(|account| (account.id, account))
            .collect())
    }
}

/// The user's transfers, by operation id.
pub struct TransferLoader {
    pool: PgPool,
    user: UserId,
}

impl Loader<OperationId> for TransferLoader {
    type Value = TransferView;
    type Error = String;

    async fn load(
        &self,
        ids: &[OperationId],
    ) -> Result<HashMap<OperationId, TransferView>, String> {
        let found = operations::get_transfers(&self.pool, self.user, ids)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found
            .into_iter()
            .map(|transfer| (transfer.operation.id, transfer))
            .collect())
    }
}

/// The user's operations, by id.
pub struct OperationLoader {
    pool: PgPool,
    user: UserId,
}

impl Loader<OperationId> for OperationLoader {
    type Value = OperationView;
    type Error = String;

    async fn load(
        &self,
        ids: &[OperationId],
    ) -> Result<HashMap<OperationId, OperationView>, String> {
        let found = operations::get_many(&self.pool, self.user, ids)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found
            .into_iter()
            .map(|operation| (operation.id, operation))
            .collect())
    }
}

/// The reversal of each of the user's transfers that has one, by the reversed transfer's id.
pub struct ReversalLoader {
    pool: PgPool,
    user: UserId,
}

impl Loader<OperationId> for ReversalLoader {
    type Value = TransferView;
    type Error = String;

    async fn load(
        &self,
        ids: &[OperationId],
    ) -> Result<HashMap<OperationId, TransferView>, String> {
        let found = reversals::reversals_of(&self.pool, self.user, ids)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found
            .into_iter()
            .filter_map(|reversal| reversal.reverses.map(|original| (original, reversal)))
            .collect())
    }
}
