//! Extractors: what a handler needs is in its signature.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::AppState;
use crate::auth::{Caller, Claims, Role, TokenError};
use crate::store::{Origin, Realm, SessionProblem};
use crate::tenancy::{Resolution, TenantHint, TenantStatus, TenantView};

/// A JSON body whose rejections use the API's error shape: malformed JSON is a 400,
/// a well-formed body of the wrong shape a 422, one over the host's request limit
/// (`max_request_bytes`, the modules' limit too) a 413 that says it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The router's `DefaultBodyLimit` is this limit.
        let limit = state.config.limits.max_request_bytes;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Validation(
                serde_json::json!({"body": e.body_text()}),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(format!(
                "Malformed JSON body: {}",
                e.body_text()
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "Expected Content-Type: application/json".into(),
            )),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(limit))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// A query string whose rejections use the API's error shape (400).
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// Where the request came from, for the audit log.
impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            // The peer of the connection: a header could be forged by the client.
            ip: super::client_ip(),
            user_agent: parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: super::request_id(),
        })
    }
}

/// The tenant the request is for, resolved and active.
#[derive(Clone)]
pub struct TenantCtx(pub Arc<TenantView>);

impl FromRequestParts<AppState> for TenantCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Self>() {
            return Ok(ctx.clone());
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let hint = TenantHint {
            host: header("host"),
            header: header("x-tenant-id"),
        };
        let view = match state.directory.resolve(hint).await? {
            Ok(view) => view,
            Err(Resolution::Unspecified) => {
                return Err(ApiError::BadRequest(
                    "No tenant in the request: use the tenant's domain or the X-Tenant-ID header"
                        .into(),
                ));
            }
            Err(Resolution::Unknown) => return Err(ApiError::NotFound("Unknown tenant".into())),
        };
        match view.tenant.status {
            TenantStatus::Active => {}
            TenantStatus::Pending => return Err(ApiError::TenantInactive("pending approval")),
            TenantStatus::Suspended => return Err(ApiError::TenantInactive("suspended")),
            TenantStatus::Archived => return Err(ApiError::TenantInactive("archived")),
        }
        tracing::Span::current().record("tenant", view.tenant.subdomain.as_str());
        state.throttle.tenant(
            &view.tenant.id,
            view.plan
                .as_ref()
                .and_then(|p| p.limits.max_requests_per_second),
        )?;
        let ctx = Self(view);
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// A verified token from `Authorization: Bearer ...`.
fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(ApiError::Unauthorized("Missing bearer token"))?;
    let claims = state.keys.verify(token.trim()).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("Token has expired"),
        TokenError::Invalid => ApiError::Unauthorized("Invalid token"),
    })?;
    tracing::Span::current().record("user", claims.sub.as_str());
    Ok(claims)
}

/// A token from a login session speaks for an account that may have been
/// deactivated, given another role, or logged out since the token was issued: the
/// account and the session decide, not the token. Returns the account's current
/// role; none for tokens that carry no session (development tokens).
async fn session_role(state: &AppState, claims: &Claims) -> Result<Option<Role>, ApiError> {
    let Some(session) = &claims.sid else {
        return Ok(None);
    };
    let realm = Realm::of(claims.tenant.as_deref());
    match state
        .db
        .live_session_role(realm, &claims.sub, session)
        .await?
    {
        Ok(role) => Ok(Some(role.parse().unwrap_or(Role::Member))),
        Err(SessionProblem::Deactivated) => {
            Err(ApiError::Forbidden("Account is deactivated".into()))
        }
        Err(SessionProblem::Revoked) => Err(ApiError::Unauthorized("Session has ended")),
    }
}

/// A caller authenticated for the resolved tenant: the token's tenant must be this
/// one; platform admins may act on any tenant.
pub struct TenantCaller {
    pub tenant: Arc<TenantView>,
    pub caller: Arc<Caller>,
}

impl FromRequestParts<AppState> for TenantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let TenantCtx(tenant) = TenantCtx::from_request_parts(parts, state).await?;
        let claims = bearer_claims(parts, state)?;
        let allowed = claims.is_platform_admin()
            || claims.tenant.as_deref() == Some(tenant.tenant.id.as_str());
        if !allowed {
            return Err(ApiError::Forbidden(
                "Token belongs to another tenant".into(),
            ));
        }
        let mut caller = Caller::from(&claims);
        if let Some(role) = session_role(state, &claims).await? {
            caller.role = role;
        }
        Ok(Self {
            tenant,
            caller: Arc::new(caller),
        })
    }
}

/// A platform administrator (SUPER_ADMIN without a tenant).
pub struct PlatformAdmin(pub Claims);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = bearer_claims(parts, state)?;
        if !claims.is_platform_admin() {
            return Err(ApiError::Forbidden("Platform administrators only".into()));
        }
        session_role(state, &claims).await?;
        Ok(Self(claims))
    }
}
