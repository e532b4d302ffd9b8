//! `/api/auth/...` and `/api/admin/auth/login`: sessions for tenant and platform users.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::set_header::SetResponseHeaderLayer;

use super::ApiError;
use super::extract::{JsonBody, TenantCaller, TenantCtx};
use crate::AppState;
use crate::auth::accounts::{Accounts, AuthError, TokenPair};
use crate::provisioning::{FirstAdmin, NewTenant};
use crate::store::{Origin, Realm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/admin/auth/login", post(platform_login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/profile", get(profile).patch(update_profile))
        .route("/api/auth/change-password", post(change_password))
        .route("/api/auth/password-reset", post(request_password_reset))
        .route(
            "/api/auth/password-reset/confirm",
            post(confirm_password_reset),
        )
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    company_name: String,
    subdomain: String,
    full_name: String,
    email: String,
    password: String,
}

async fn register(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<Register>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({
            "tenant": {"id": tenant.id, "name": tenant.name, "subdomain": tenant.subdomain, "status": tenant.status.as_str()},
            "message": "Registered. A platform administrator will approve the company before you can log in.",
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh: String,
}

async fn refresh(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(
        state.accounts().refresh(&body.refresh, &origin).await?,
    ))
}

async fn logout(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    state.accounts().logout(&body.refresh, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn profile(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<Value>, ApiError> {
    let account = state
        .db
        .account_by_id(Realm::Tenant(&auth.tenant.tenant.id), &auth.caller.user_id)
        .await?
        .ok_or(AuthError::NoAccount)?;
    Ok(Json(json!({
        "id": account.id,
        "email": account.email,
        "full_name": account.full_name,
        "role": account.role,
        "tenant": auth.tenant.tenant.subdomain,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    full_name: String,
}

async fn update_profile(
    State(state): State<AppState>,
    auth: TenantCaller,
    JsonBody(body): JsonBody<ProfileUpdate>,
) -> Result<Json<Value>, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// Always 202: whether the email has an account is not the caller's to know.
async fn request_password_reset(
    State(state): State<AppState>,
    TenantCtx(tenant): TenantCtx,
    origin: Origin,
    JsonBody(body): JsonBody<ResetRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state
        .throttle
        .reset_request(&tenant.tenant.id, super::client_addr())?;
    state
        .accounts()
        .request_password_reset(Realm::Tenant(&tenant.tenant.id), &body.email, &origin)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "If this address has an account, a reset message is on its way."})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

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
