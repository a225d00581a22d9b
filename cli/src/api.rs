//! The api role: the GraphQL server over the store and the Temporal client.

use crate::config::{ApiSettings, RuntimeSettings};
use djinn_graphql::{EmulatorTokenVerifier, FirebaseVerifier, TokenVerifier};
use std::sync::Arc;

/// The token verifier the settings allow. Emulator tokens are never accepted in production.
pub fn verifier(
    settings: &ApiSettings,
    runtime: &RuntimeSettings,
) -> anyhow::Result<Arc<dyn TokenVerifier>> {
    match (
        &settings.firebase_auth_emulator_host,
        runtime.is_production(),
    ) {
        (Some(_), true) => {
            anyhow::bail!("FIREBASE_AUTH_EMULATOR_HOST must not be set when DJINN_ENV=production")
        }
        (Some(host), false) => {
            tracing::warn!(%host, "accepting unsigned Firebase-emulator tokens (development only)");
            Ok(Arc::new(EmulatorTokenVerifier::new(
                settings.firebase_project_id.clone(),
            )))
        }
        (None, _) => Ok(Arc::new(FirebaseVerifier::new(
            settings.firebase_project_id.clone(),
            settings.firebase_jwks_url.clone(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(environment: &str, emulator: Option<&str>) -> (ApiSettings, RuntimeSettings) {
        let api = ApiSettings {
            api_addr: "127.0.0.1:0".parse().expect("an address"),
            port: None,
            firebase_project_id: "djinn-dev".into(),
            firebase_jwks_url: djinn_graphql::FIREBASE_JWKS_URL.into(),
            firebase_auth_emulator_host: emulator.map(str::to_owned),
            ops_token: None,
            ops_token_file: None,
            codec_cors_origins: Vec::new(),
            cors_origins: Vec::new(),
            request_timeout_ms: 10_000,
            rate_limit_per_minute: 600,
        };
        (
            api,
            RuntimeSettings {
                environment: environment.into(),
            },
        )
    }

    fn verify(settings: (ApiSettings, RuntimeSettings)) -> anyhow::Result<Arc<dyn TokenVerifier>> {
        verifier(&settings.0, &settings.1)
    }

    #[test]
    fn production_refuses_emulator_tokens() {
        assert!(verify(settings("production", Some("127.0.0.1:9099"))).is_err());
        assert!(verify(settings("production", None)).is_ok());
        assert!(verify(settings("development", Some("127.0.0.1:9099"))).is_ok());
    }
}
