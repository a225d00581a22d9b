//! Firebase ID tokens: RS256 JWTs signed by Google, verified against the published keys.
//!
//! Keys are cached for as long as the key endpoint's Cache-Control allows, and a sign-in never
//! waits for Google while the cache has its key: when the keys go stale, one refresh runs in the
//! background (never two at once) and requests keep using the cached keys. A failed refresh is
//! retried with exponential backoff ([`REFRESH_BACKOFF_MIN`] to [`REFRESH_BACKOFF_MAX`]), and
//! the cached keys keep serving for [`STALE_KEYS_GRACE`] past their expiry: an outage of
//! Google's endpoint signs nobody out while their keys are still the current ones. Only a
//! request that needs a key the cache lacks waits for a fetch: the first one (an empty cache),
//! or a `kid` not in the cache, which triggers a refetch (keys rotate) at most once per
//! [`UNKNOWN_KID_REFETCH_INTERVAL`], so a stream of forged `kid`s cannot turn the API into a
//! load generator against the key endpoint.

use super::{AuthError, CLOCK_SKEW_SECONDS, Principal, TokenVerifier, VerifyFuture, principal};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Google's published keys for Firebase ID tokens, in JWKS form.
pub const FIREBASE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// The least time between two refetches caused by an unknown `kid`.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long stale keys keep verifying tokens while the key endpoint cannot be reached.
pub const STALE_KEYS_GRACE: Duration = Duration::from_secs(6 * 60 * 60);
/// The wait after a first failed refresh, doubled after each further failure up to the max.
pub const REFRESH_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const REFRESH_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// How long keys are kept when the endpoint sends no usable Cache-Control.
const DEFAULT_KEY_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a key fetch may take.
const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct FirebaseVerifier {
    project_id: String,
    issuer: String,
    keys: Arc<KeySource>,
}

/// The published keys, their cache and the one refresh that may run at a time.
#[derive(Debug)]
struct KeySource {
    jwks_url: String,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Held by the fetch under way: a second one waits for it, or (in the background) skips.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    expires_at: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
    /// No fetch before this instant: set after a failure, doubling with each.
    retry_after: Option<Instant>,
    failures: u32,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .field("failures", &self.failures)
            .finish()
    }
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
    alg: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iat: i64,
    auth_time: Option<i64>,
}

impl FirebaseVerifier {
    pub fn new(project_id: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        let project_id = project_id.into();
        Self {
            issuer: format!("https://securetoken.google.com/{project_id}"),
            project_id,
            keys: Arc::new(KeySource {
                jwks_url: jwks_url.into(),
                http: reqwest::Client::builder()
                    .timeout(KEY_FETCH_TIMEOUT)
                    .build()
                    .unwrap_or_default(),
                cache: RwLock::new(KeyCache::default()),
                fetching: Mutex::new(()),
            }),
        }
    }

    async fn check(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Rejected("algorithm must be RS256"));
        }
        let kid = header.kid.ok_or(AuthError::Rejected("missing key id"))?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.project_id]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.leeway = CLOCK_SKEW_SECONDS.unsigned_abs();
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::Rejected(match error.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::MissingRequiredClaim(_) => "missing claim",
                _ => "invalid token",
            })
        })?;
        let now = chrono::Utc::now().timestamp();
        let claims = data.claims;
        if claims.iat - CLOCK_SKEW_SECONDS > now
            || claims
                .auth_time
                .is_some_and(|t| t - CLOCK_SKEW_SECONDS > now)
        {
            return Err(AuthError::Rejected("issued in the future"));
        }
        principal(claims.sub)
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        self.keys.key(kid).await
    }
}

/// What the cache can do for a `kid` right now.
enum Lookup {
    /// Fresh, or stale within the grace period (then `refresh` says a background refresh is
    /// due).
    Found { key: DecodingKey, refresh: bool },
    /// Not usable without a fetch: the caller waits for one if `fetch` allows it.
    Missing { fetch: bool },
}

impl KeySource {
    /// The key for `kid`: from the cache whenever it has it (starting a background refresh
    /// when the keys are stale), otherwise after one fetch when one is allowed.
    async fn key(self: &Arc<Self>, kid: &str) -> Result<DecodingKey, AuthError> {
        match self.lookup(kid, Instant::now()) {
            Lookup::Found { key, refresh } => {
                if refresh {
                    let source = Arc::clone(self);
                    tokio::spawn(async move { source.refresh_in_background().await });
                }
                Ok(key)
            }
            Lookup::Missing { fetch } => {
                if fetch {
                    self.fetch_once().await;
                }
                match self.lookup(kid, Instant::now()) {
                    Lookup::Found { key, .. } => Ok(key),
                    Lookup::Missing { .. } if self.unavailable(Instant::now()) => {
                        Err(AuthError::Unavailable)
                    }
                    Lookup::Missing { .. } => Err(AuthError::Rejected("unknown key id")),
                }
            }
        }
    }

    /// What the cache can do for `kid`. Every sign-in comes here, so a known kid takes the
    /// read lock only; an unknown one takes the write lock to claim its refetch.
    fn lookup(&self, kid: &str, now: Instant) -> Lookup {
        {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let may_fetch = cache.retry_after.is_none_or(|at| now >= at);
            let stale = cache.expires_at.is_none_or(|expires_at| now >= expires_at);
            let usable = cache
                .expires_at
                .is_some_and(|expires_at| now < expires_at + STALE_KEYS_GRACE);
            match cache.keys.get(kid) {
                Some(key) if usable => {
                    return Lookup::Found {
                        key: key.clone(),
                        refresh: stale && may_fetch,
                    };
                }
                Some(_) => return Lookup::Missing { fetch: may_fetch },
                None if cache.keys.is_empty() => return Lookup::Missing { fetch: may_fetch },
                None => {}
            }
        }
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let may_fetch = cache.retry_after.is_none_or(|at| now >= at);
        let may_refetch_unknown = cache
            .last_unknown_kid_fetch
            .is_none_or(|at| now.duration_since(at) >= UNKNOWN_KID_REFETCH_INTERVAL);
        let fetch = may_refetch_unknown && may_fetch;
        if fetch {
            cache.last_unknown_kid_fetch = Some(now);
        }
        Lookup::Missing { fetch }
    }

    /// Whether no key can be trusted now because the endpoint failed: nothing cached (a cold
    /// start) or only keys past their grace period, and the last fetch failed.
    fn unavailable(&self, now: Instant) -> bool {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let usable = !cache.keys.is_empty()
            && cache
                .expires_at
                .is_some_and(|expires_at| now < expires_at + STALE_KEYS_GRACE);
        !usable && cache.failures > 0
    }

    /// A refresh that nobody waits for: skipped when another fetch is under way.
    async fn refresh_in_background(&self) {
        if let Ok(_fetching) = self.fetching.try_lock() {
            self.fetch_and_store().await;
        }
    }

    /// One fetch for all the requests that need it: the first fetches, the others wait for it
    /// and then read the cache it filled.
    async fn fetch_once(&self) {
        let ran_before = self.cache_version();
        let _fetching = self.fetching.lock().await;
        if self.cache_version() == ran_before {
            self.fetch_and_store().await;
        }
    }

    /// Which fetch the cache holds the outcome of: changes with every fetch, failed or not.
    fn cache_version(&self) -> (Option<Instant>, u32, Option<Instant>) {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (cache.expires_at, cache.failures, cache.retry_after)
    }

    async fn fetch_and_store(&self) {
        let fetched = self.fetch().await;
        let now = Instant::now();
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match fetched {
            Ok((keys, lifetime)) => {
                cache.keys = keys;
                cache.expires_at = Some(now + lifetime);
                cache.failures = 0;
                cache.retry_after = None;
            }
            // Keep serving the keys we have: Google's endpoint being down must not sign
            // everyone out while their keys are still the current ones.
            Err(error) => {
                cache.failures = cache.failures.saturating_add(1);
                let backoff = REFRESH_BACKOFF_MIN
                    .saturating_mul(2_u32.saturating_pow(cache.failures - 1))
                    .min(REFRESH_BACKOFF_MAX);
                cache.retry_after = Some(now + backoff);
                tracing::warn!(%error, failures = cache.failures, backoff_ms = backoff.as_millis(), "cannot fetch Firebase signing keys");
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), reqwest::Error> {
        let response = self
            .http
            .get(&self.jwks_url)
            .send()
            .await?
            .error_for_status()?;
        let lifetime = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_KEY_LIFETIME);
        let jwks: Jwks = response.json().await?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|jwk| jwk.kty == "RSA" && jwk.alg.as_deref().is_none_or(|alg| alg == "RS256"))
            .filter_map(|jwk| {
                DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
                    .ok()
                    .map(|key| (jwk.kid, key))
            })
            .collect();
        Ok((keys, lifetime))
    }
}

/// The `max-age` of a Cache-Control header value, if any.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|directive| directive.trim().strip_prefix("max-age="))
        .find_map(|seconds| seconds.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl TokenVerifier for FirebaseVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.check(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Google publishes its keys over HTTPS: a client without TLS would refuse the URL before
    /// it tried, and nobody could sign in. Port 1 on loopback refuses the connection instead.
    #[tokio::test]
    async fn the_key_endpoint_is_reached_over_tls() {
        let source = FirebaseVerifier::new("djinn", "https://127.0.0.1:1/keys").keys;
        let Err(refused) = source.fetch().await else {
            panic!("nothing listens on port 1");
        };
        // Without TLS the client refuses the scheme ("URL scheme is not allowed"), never
        // reaching the network; with it, the connection is what fails.
        let said = format!("{refused:?}");
        assert!(!said.contains("scheme"), "{said}");
        assert!(said.contains("ConnectionRefused"), "{said}");
    }

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=19836, must-revalidate, no-transform"),
            Some(Duration::from_secs(19836))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
