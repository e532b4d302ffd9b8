//! `/api/auth/...` and `/api/admin/auth/login`: sessions for tenant and platform users.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::extract::{JsonBody, TenantCaller, TenantCtx};
use crate::AppState;
use crate::auth::accounts::{Accounts, AuthError, TokenPair};
use crate::provisioning::{FirstAdmin, NewTenant};
use crate::store::{Origin, Realm};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(platform_login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(profile, update_profile))
        .routes(routes!(change_password))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        // Answers carry tokens and personal data: no cache keeps them.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

impl AppState {
    pub(super) fn accounts(&self) -> Accounts<'_> {
        Accounts {
            db: &self.db,
            keys: &self.keys,
            settings: &self.config.auth,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Register {
    company_name: String,
    subdomain: String,
    full_name: String,
    email: String,
    password: String,
}

/// A company signed up, pending approval.
#[derive(serde::Serialize, ToSchema)]
struct Registered {
    tenant: RegisteredTenant,
    message: &'static str,
}

#[derive(serde::Serialize, ToSchema)]
struct RegisteredTenant {
    id: String,
    name: String,
    subdomain: String,
    /// `pending` until a platform admin approves it.
    status: &'static str,
}

/// Signs a company up: a pending tenant and its first admin, who can log in once a
/// platform admin approves the tenant.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = Register,
    responses((status = 201, body = Registered), (status = 409, description = "The subdomain is taken")),
)]
async fn register(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<Register>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let new = NewTenant {
        name: body.company_name,
        subdomain: body.subdomain,
        ..NewTenant::default()
    };
    let admin = FirstAdmin {
        full_name: body.full_name,
        email: body.email,
        password: Some(body.password),
    };
    let provisioner = state.provisioner();
    // A sign-up that would be refused costs its sender nothing.
    provisioner.check_sign_up(&new, &admin).await?;
    state.throttle.sign_up(super::client_addr())?;
    let tenant = provisioner.register(new, admin, origin).await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            tenant: RegisteredTenant {
                id: tenant.id,
                name: tenant.name,
                subdomain: tenant.subdomain,
                status: tenant.status.as_str(),
            },
            message: "Registered. A platform administrator will approve the company before you can log in.",
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

/// A tenant user's login: an access and a refresh token.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Wrong email or password"),
        (status = 423, description = "Locked after too many failures from this address"),
    ),
    security(("tenant" = [])),
)]
async fn login(
    State(state): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    origin: Origin,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    state
        .throttle
        .sign_in(&tenant.tenant.id, super::client_addr())?;
    let pair = state
        .accounts()
        .login(
            Realm::Tenant(&tenant.tenant.id),
            &body.email,
            &body.password,
            &origin,
        )
        .await?;
    Ok(Json(pair))
}

/// A platform admin's login.
#[utoipa::path(
    post, path = "/api/admin/auth/login", tag = "auth",
    request_body = Credentials,
    responses((status = 200, body = TokenPair), (status = 401, description = "Wrong email or password")),
)]
async fn platform_login(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    state.throttle.sign_in("platform", super::client_addr())?;
    let pair = state
        .accounts()
        .login(Realm::Platform, &body.email, &body.password, &origin)
        .await?;
    Ok(Json(pair))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh: String,
}

/// A new token pair for a refresh token, which is used up (a second use revokes
/// the session).
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 401, description = "Invalid, expired or reused")),
)]
async fn refresh(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(
        state.accounts().refresh(&body.refresh, &origin).await?,
    ))
}

/// Ends the refresh token's session.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    request_body = RefreshBody,
    responses((status = 204, description = "Logged out")),
)]
async fn logout(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    state.accounts().logout(&body.refresh, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[derive(serde::Serialize, ToSchema)]
struct Profile {
    id: String,
    email: String,
    full_name: String,
    role: String,
    /// The tenant's subdomain.
    tenant: String,
}

#[utoipa::path(
    get, path = "/api/auth/profile", tag = "auth",
    responses((status = 200, body = Profile)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn profile(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<Profile>, ApiError> {
    let account = state
        .db
        .account_by_id(Realm::Tenant(&auth.tenant.tenant.id), &auth.caller.user_id)
        .await?
        .ok_or(AuthError::NoAccount)?;
    Ok(Json(Profile {
        id: account.id,
        email: account.email,
        full_name: account.full_name,
        role: account.role,
        tenant: auth.tenant.tenant.subdomain.clone(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    full_name: String,
}

/// Changes the caller's name.
#[utoipa::path(
    patch, path = "/api/auth/profile", tag = "auth",
    request_body = ProfileUpdate,
    responses((status = 200, body = Profile)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn update_profile(
    State(state): State<AppState>,
    auth: TenantCaller,
    JsonBody(body): JsonBody<ProfileUpdate>,
) -> Result<Json<Profile>, ApiError> {
    let full_name = body.full_name.trim();
    if !crate::auth::valid_name(full_name) {
        return Err(ApiError::Validation(
            json!({"full_name": "must be 1 to 200 characters, without control characters"}),
        ));
    }
    let realm = Realm::Tenant(&auth.tenant.tenant.id);
    state
        .db
        .account_by_id(realm, &auth.caller.user_id)
        .await?
        .ok_or(AuthError::NoAccount)?;
    state
        .db
        .set_full_name(realm, &auth.caller.user_id, full_name)
        .await?;
    profile(State(state), auth).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password and ends their other sessions.
#[utoipa::path(
    post, path = "/api/auth/change-password", tag = "auth",
    request_body = ChangePassword,
    responses((status = 204, description = "Changed")),
    security(("bearer" = [], "tenant" = [])),
)]
async fn change_password(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts()
        .change_password(
            Realm::Tenant(&auth.tenant.tenant.id),
            &auth.caller.user_id,
            &body.current_password,
            &body.new_password,
            auth.caller.session.as_deref(),
            &origin,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

#[derive(serde::Serialize, ToSchema)]
struct Message {
    message: &'static str,
}

/// Mails a reset token if the email has an account. Always 202: whether it has one
/// is not the caller's to know.
#[utoipa::path(
    post, path = "/api/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses((status = 202, body = Message)),
    security(("tenant" = [])),
)]
async fn request_password_reset(
    State(state): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    origin: Origin,
    JsonBody(body): JsonBody<ResetRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    state
        .throttle
        .reset_request(&tenant.tenant.id, super::client_addr())?;
    state
        .accounts()
        .request_password_reset(Realm::Tenant(&tenant.tenant.id), &body.email, &origin)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Message {
            message: "If this address has an account, a reset message is on its way.",
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

/// Sets a new password with a mailed reset token.
#[utoipa::path(
    post, path = "/api/auth/password-reset/confirm", tag = "auth",
    request_body = ResetConfirm,
    responses((status = 204, description = "Password set")),
)]
async fn confirm_password_reset(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<ResetConfirm>,
) -> Result<StatusCode, ApiError> {
    state.throttle.sign_in("reset", super::client_addr())?;
    state
        .accounts()
        .confirm_password_reset(&body.token, &body.new_password, &origin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => ApiError::Unauthorized("Invalid email or password"),
            AuthError::Locked { retry_after_secs } => ApiError::Locked(retry_after_secs),
            AuthError::Deactivated => ApiError::Forbidden("Account is deactivated".into()),
            AuthError::InvalidRefresh => {
                ApiError::Unauthorized("Refresh token is invalid, expired or revoked")
            }
            AuthError::RefreshReused => ApiError::Unauthorized(
                "Refresh token was already used; the session has been revoked",
            ),
            AuthError::NoAccount => ApiError::NotFound("No account behind this token".into()),
            AuthError::WrongCurrentPassword => {
                ApiError::Validation(json!({"current_password": "is not your current password"}))
            }
            AuthError::WeakPassword(why) => ApiError::Validation(json!({"new_password": why})),
            AuthError::InvalidField(field, why) => ApiError::Validation(json!({ field: why })),
            AuthError::TenantInactive => ApiError::TenantInactive("not active"),
            AuthError::UserLimit(quota) => ApiError::QuotaExceeded(quota),
            AuthError::EmailTaken => {
                ApiError::Conflict("An account with this email already exists".into())
            }
            AuthError::InvalidOneTimeToken => {
                ApiError::Validation(json!({"token": "is invalid, used or expired"}))
            }
            AuthError::Db(e) => ApiError::internal(e),
            AuthError::Signing(e) => ApiError::internal(anyhow::Error::msg(e)),
        }
    }
}
