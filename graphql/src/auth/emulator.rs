//! The Firebase Auth emulator's tokens: unsigned JWTs (`alg: none`) whose issuer and audience
//! name the project. Only ever constructed when FIREBASE_AUTH_EMULATOR_HOST is set.

use super::{AuthError, CLOCK_SKEW_SECONDS, TokenVerifier, VerifyFuture, principal};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct EmulatorTokenVerifier {
    project_id: String,
}

impl EmulatorTokenVerifier {
    pub fn new(project_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
        }
    }

    fn check(&self, token: &str) -> Result<super::Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
        let issuer = format!("https://securetoken.google.com/{}", self.project_id);
        if claims.iss.as_deref() != Some(issuer.as_str()) {
            return Err(AuthError::Rejected("wrong issuer"));
        }
        if claims.aud.as_deref() != Some(self.project_id.as_str()) {
            return Err(AuthError::Rejected("wrong audience"));
        }
        let now = chrono::Utc::now().timestamp();
        if claims.exp.is_some_and(|exp| exp + CLOCK_SKEW_SECONDS < now) {
            return Err(AuthError::Rejected("expired"));
        }
        if claims.iat.is_some_and(|iat| iat - CLOCK_SKEW_SECONDS > now) {
            return Err(AuthError::Rejected("issued in the future"));
        }
        principal(claims.sub)
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
}

impl TokenVerifier for EmulatorTokenVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move { self.check(token) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use serde_json::json;

    fn token(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    fn verifier() -> EmulatorTokenVerifier {
        EmulatorTokenVerifier::new("djinn-dev")
    }

    #[test]
    fn accepts_emulator_tokens_of_the_project() {
        let t = token(
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": "alice"}),
        );
        assert_eq!(
            verifier().check(&t),
            Ok(Principal {
                firebase_uid: "alice".into()
            })
        );
    }

    #[test]
    fn refuses_other_projects_expired_and_subjectless_tokens() {
        let now = chrono::Utc::now().timestamp();
        let cases = [
            json!({"iss": "https://securetoken.google.com/other", "aud": "djinn-dev", "sub": "a"}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "other", "sub": "a"}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": "a", "exp": now - 3600}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev", "sub": ""}),
            json!({"iss": "https://securetoken.google.com/djinn-dev", "aud": "djinn-dev"}),
        ];
        for claims in cases {
            assert!(
                verifier().check(&token(claims.clone())).is_err(),
                "{claims}"
            );
        }
        assert_eq!(verifier().check("not-a-jwt"), Err(AuthError::Malformed));
    }
}
