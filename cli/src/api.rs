//! The api role: the GraphQL server over the store and the Temporal client.

use crate::config::ApiSettings;
use djinn_graphql::{AppState, EmulatorTokenVerifier, TokenVerifier, UnconfiguredVerifier};
use std::sync::Arc;

/// The token verifier the settings allow. Emulator tokens are never accepted in production.
pub fn verifier(settings: &ApiSettings) -> anyhow::Result<Arc<dyn TokenVerifier>> {
    match (
        &settings.firebase_auth_emulator_host,
        settings.is_production(),
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
        (None, _) => Ok(Arc::new(UnconfiguredVerifier)),
    }
}

pub fn state(
    pool: sqlx::PgPool,
    temporal: temporalio_client::Client,
    task_queue: String,
    verifier: Arc<dyn TokenVerifier>,
) -> AppState {
    AppState {
        pool,
        temporal,
        task_queue,
        verifier,
    }
}
