//! Firebase ID tokens: RS256 JWTs signed by Google, verified against the published keys.
//!
//! Keys are cached for as long as the key endpoint's Cache-Control allows. A token whose `kid`
//! is not in the cache triggers a refetch (keys rotate), at most once per
//! [`UNKNOWN_KID_REFETCH_INTERVAL`], so a stream of forged `kid`s cannot turn the API into a
//! load generator against the key endpoint.

use super::{AuthError, CLOCK_SKEW_SECONDS, Principal, TokenVerifier, VerifyFuture, principal};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Google's published keys for Firebase ID tokens, in JWKS form.
pub const FIREBASE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// The least time between two refetches caused by an unknown `kid`.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long keys are kept when the endpoint sends no usable Cache-Control.
const DEFAULT_KEY_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a key fetch may take.
const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct FirebaseVerifier {
    project_id: String,
    issuer: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    expires_at: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
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
            jwks_url: jwks_url.into(),
            http: reqwest::Client::builder()
                .timeout(KEY_FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
            keys: Mutex::new(KeyCache::default()),
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

    /// The key for `kid`, fetching the key set when the cache is stale, or when the kid is
    /// unknown and no such refetch happened within the last minute.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let mut cache = self.keys.lock().await;
        let now = Instant::now();
        let stale = cache.expires_at.is_none_or(|expires_at| now >= expires_at);
        let unknown = !cache.keys.contains_key(kid);
        let may_refetch_unknown = cache
            .last_unknown_kid_fetch
            .is_none_or(|at| now.duration_since(at) >= UNKNOWN_KID_REFETCH_INTERVAL);
        if stale || (unknown && may_refetch_unknown) {
            if unknown && !stale {
                cache.last_unknown_kid_fetch = Some(now);
            }
            match self.fetch().await {
                Ok((keys, lifetime)) => {
                    cache.keys = keys;
                    cache.expires_at = Some(now + lifetime);
                }
                // Keep serving the keys we have: Google's endpoint being down must not sign
                // everyone out while their keys are still the current ones.
                Err(error) => tracing::warn!(%error, "cannot fetch Firebase signing keys"),
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or(AuthError::Rejected("unknown key id"))
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
