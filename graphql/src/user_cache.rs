//! Firebase uid -> Djinn user id, remembered in memory. Users are never deleted or re-keyed, so
//! a mapping once read stays true, and most requests skip a database round trip.

use djinn_domain::UserId;
use djinn_store::PgPool;
use djinn_store::StoreError;
use djinn_store::users;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before the cache starts over; a bound on memory, not a tuning knob.
pub const USER_CACHE_MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct UserCache {
    users: Mutex<HashMap<String, UserId>>,
}

impl UserCache {
    /// The user for a Firebase uid, created in the database on first sight.
    pub async fn resolve(&self, pool: &PgPool, firebase_uid: &str) -> Result<UserId, StoreError> {
        if let Some(user) = self.lock().get(firebase_uid) {
            return Ok(*user);
        }
        let user = users::ensure_user(pool, firebase_uid).await?;
        let mut cache = self.lock();
        if cache.len() >= USER_CACHE_MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(firebase_uid.to_owned(), user);
        Ok(user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserId>> {
        // A panic while holding the lock cannot leave the map inconsistent: every write is a
        // single insert or clear.
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
