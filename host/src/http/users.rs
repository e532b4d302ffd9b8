//! `/api/users/`: a tenant's admins manage its users. Managers and members cannot
//! change anyone's role or status, their own included.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::extract::{JsonBody, TenantCaller};
use crate::AppState;
use crate::auth::Role;
use crate::auth::accounts::AuthError;
use crate::store::{Account, AuditEntry, Origin, Realm};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        // The same, without the trailing slash.
        .route("/api/users", get(list).post(invite))
        .routes(routes!(update))
        .routes(routes!(accept_invite))
}

fn require_admin(auth: &TenantCaller) -> Result<(), ApiError> {
    if auth.caller.role < Role::TenantAdmin {
        return Err(ApiError::Forbidden(
            "Only tenant admins manage users".into(),
        ));
    }
    Ok(())
}

/// A user of the tenant.
#[derive(serde::Serialize, ToSchema)]
struct User {
    id: String,
    email: String,
    full_name: String,
    /// `MEMBER`, `MANAGER` or `TENANT_ADMIN`.
    role: String,
    active: bool,
}

impl From<Account> for User {
    fn from(account: Account) -> Self {
        Self {
            id: account.id,
            email: account.email,
            full_name: account.full_name,
            role: account.role,
            active: account.active,
        }
    }
}

#[derive(serde::Serialize, ToSchema)]
struct Users {
    items: Vec<User>,
}

/// A role a tenant user may hold.
fn tenant_role(role: &str) -> Result<Role, ApiError> {
    match role.parse::<Role>() {
        Ok(role) if role != Role::SuperAdmin => Ok(role),
        _ => Err(ApiError::Validation(
            json!({"role": "must be MEMBER, MANAGER or TENANT_ADMIN"}),
        )),
    }
}

/// The tenant's users (tenant admins only).
#[utoipa::path(
    get, path = "/api/users/", tag = "users",
    responses((status = 200, body = Users)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn list(State(state): State<AppState>, auth: TenantCaller) -> Result<Json<Users>, ApiError> {
    require_admin(&auth)?;
    let users = state.db.tenant_accounts(&auth.tenant.tenant.id).await?;
    Ok(Json(Users {
        items: users.into_iter().map(User::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Invite {
    email: String,
    full_name: String,
    role: String,
}

/// Invites a user, who chooses a password through a mailed single-use token.
#[utoipa::path(
    post, path = "/api/users/", tag = "users",
    request_body = Invite,
    responses((status = 201, body = User), (status = 409, description = "The email is taken")),
    security(("bearer" = [], "tenant" = [])),
)]
async fn invite(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
    JsonBody(body): JsonBody<Invite>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    require_admin(&auth)?;
    let role = tenant_role(&body.role)?;
    let account = state
        .accounts()
        .invite(
            &auth.tenant.tenant,
            &body.email,
            &body.full_name,
            role.as_str(),
            &auth.caller.user_id,
            &origin,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(account.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Update {
    role: Option<String>,
    active: Option<bool>,
}

/// Changes a user's role or status (not the caller's own).
#[utoipa::path(
    patch, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = Update,
    responses((status = 200, body = User), (status = 409, description = "Your own role or status")),
    security(("bearer" = [], "tenant" = [])),
)]
async fn update(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Update>,
) -> Result<Json<User>, ApiError> {
    require_admin(&auth)?;
    let tenant_id = &auth.tenant.tenant.id;
    let realm = Realm::Tenant(tenant_id);
    let before = state
        .db
        .account_by_id(realm, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such user".into()))?;
    let role = match &body.role {
        Some(role) => tenant_role(role)?.as_str(),
        None => before.role.as_str(),
    };
    let active = body.active.unwrap_or(before.active);
    // An admin who demotes or deactivates themselves can lock the tenant out.
    if id == auth.caller.user_id && (role != before.role || !active) {
        return Err(ApiError::Conflict(
            "You cannot change your own role or deactivate yourself".into(),
        ));
    }
    let actor = format!("user:{}", auth.caller.user_id);
    let target = format!("user:{id}");
    let audit = AuditEntry::new(&origin, &actor, Some(tenant_id), "user.update", &target)
        .before(&json!({"role": before.role, "active": before.active}))
        .after(&json!({"role": role, "active": active}));
    state
        .db
        .update_tenant_account(tenant_id, &id, role, active, audit)
        .await?;
    let after = state
        .db
        .account_by_id(realm, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such user".into()))?;
    Ok(Json(after.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Accept {
    token: String,
    password: String,
}

/// Sets an invited user's password with the mailed token.
#[utoipa::path(
    post, path = "/api/auth/invite/accept", tag = "users",
    request_body = Accept,
    responses((status = 204, description = "Password set")),
)]
async fn accept_invite(
    State(state): State<AppState>,
    origin: Origin,
    JsonBody(body): JsonBody<Accept>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts()
        .accept_invite(&body.token, &body.password, &origin)
        .await
        .map_err(|e| match e {
            AuthError::WeakPassword(why) => ApiError::Validation(json!({"password": why})),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
