//! Who is calling: REST clients present an API key as a bearer token; the key's organisation and
//! scopes bound everything they can see or change.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hatchery_domain::OrgId;
use hatchery_store::keys::{ApiKey, Scope};

use crate::error::{forbidden, unauthorized, ApiError};
use crate::AppState;

/// An authenticated API caller.
pub struct Caller(pub ApiKey);

impl Caller {
    pub fn org(&self) -> OrgId {
        self.0.org_id
    }

    /// Like [`Caller::require`], satisfied by any one of `scopes`.
    pub fn require_any(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.0.allows(*s)) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "this API key lacks one of the scopes {}",
                scopes
                    .iter()
                    .map(|s| format!("`{}`", s.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.allows(scope) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "this API key lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| unauthorized("send an API key as `Authorization: Bearer <key>`"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <key>`"))?
            .trim();
        let key = state
            .store
            .authenticate_api_key(token, state.now())
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked API key"))?;
        Ok(Caller(key))
    }
}
