//! Extractors: what a handler needs is in its signature.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;
use crate::AppState;
use crate::auth::{Caller, Claims, Role, TokenError};
use crate::store::{Origin, Realm, SessionProblem};
use crate::tenancy::{Resolution, TenantHint, TenantStatus, TenantView};

/// A JSON object body whose rejections use the API's error shape: malformed JSON is
/// a 400; a well-formed body of the wrong shape a 422 with a message per field, as the
/// modules answer; one over the host's request limit (`max_request_bytes`, the
/// modules' limit too) a 413 that says it. Text with a NUL character is refused
/// before anything stores it (PostgreSQL cannot).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The router's `DefaultBodyLimit` is this limit.
        let limit = state.config.limits.max_request_bytes;
        let value = match axum::Json::<Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(JsonRejection::JsonSyntaxError(e)) => {
                return Err(ApiError::BadRequest(format!(
                    "Malformed JSON body: {}",
                    e.body_text()
                )));
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                return Err(ApiError::UnsupportedMediaType(
                    "Expected Content-Type: application/json".into(),
                ));
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            Err(e) => return Err(ApiError::BadRequest(e.body_text())),
        };
        body_object(value).map(Self)
    }
}

/// A well-formed JSON body read into `T`, or a 422 per field: every host route takes
/// an object (serde would read an array into a struct by position), and no text
/// with a NUL character.
pub(super) fn body_object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(field_problem("", "must be a JSON object"));
    }
    if let Some(field) = text_with_nul(&value, String::new()) {
        return Err(field_problem(&field, "must not contain NUL characters"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        shape_problem(if path == "." { "" } else { &path }, &e.into_inner())
    })
}

/// The path of the first string (or key) in `value` holding a NUL character.
fn text_with_nul(value: &Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| text_with_nul(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&key.replace('\0', "")))
            } else {
                text_with_nul(item, join(key))
            }
        }),
        _ => None,
    }
}

/// A 422 naming the field (`body` for the body as a whole).
fn field_problem(field: &str, message: &str) -> ApiError {
    let field = if field.is_empty() { "body" } else { field };
    ApiError::Validation(serde_json::json!({ field: message }))
}

/// Serde's complaint at `path`, in the words the modules use.
fn shape_problem(path: &str, error: &serde_json::Error) -> ApiError {
    let message = error.to_string();
    let quoted = |rest: &str| rest.split('`').nth(1).map(str::to_owned);
    // The path of an unknown field already ends with it; a missing one's does not.
    let within = |field: String| {
        if path.is_empty() || path == field || path.ends_with(&format!(".{field}")) {
            if path.is_empty() {
                field
            } else {
                path.to_owned()
            }
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(field) = message.strip_prefix("missing field ").and_then(quoted) {
        return field_problem(&within(field), "is required");
    }
    if let Some(field) = message.strip_prefix("unknown field ").and_then(quoted) {
        return field_problem(&within(field), "unknown field");
    }
    if let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        let expected = if expected.starts_with("struct ") || expected.starts_with("a map") {
            "a JSON object"
        } else {
            expected
        };
        return field_problem(path, &format!("must be {expected}"));
    }
    field_problem(path, &message)
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

static X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");

/// A header that names the tenant: two of them would let a proxy and the host
/// read different tenants from one request, so that is a 400.
fn single_header<'p>(parts: &'p Parts, name: &HeaderName) -> Result<Option<&'p str>, ApiError> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::BadRequest(format!(
            "The {name} header appears more than once"
        )));
    }
    Ok(first.and_then(|v| v.to_str().ok()))
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
        let hint = TenantHint {
            // An absolute-form URI (a proxy's, or HTTP/2's `:authority`) names the
            // host; `Host` is then to be ignored (RFC 9112, 3.2.2).
            host: match parts.uri.authority() {
                Some(authority) => Some(authority.as_str().rsplit('@').next().unwrap_or_default()),
                None => single_header(parts, &header::HOST)?,
            },
            header: single_header(parts, &X_TENANT_ID)?,
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
        super::note_tenant_plan(&view.tenant.plan);
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
        TokenError::NotYetValid => ApiError::Unauthorized("Token is not valid yet"),
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
        // Only now, authenticated: anonymous requests naming the tenant do not
        // spend its quota.
        state.throttle.tenant(
            &tenant.tenant.id,
            tenant
                .plan
                .as_ref()
                .and_then(|p| p.limits.max_requests_per_second),
        )?;
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
