//! `/api/admin/...`: the platform administrators' control plane. Every handler takes
//! an [`AdminActor`] (a SUPER_ADMIN, and where the call came from) and hands the work
//! to the provisioner.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::auth::OriginOwned;
use super::extract::{JsonBody, PlatformAdmin, QueryParams};
use crate::AppState;
use crate::provisioning::{Actor, Conversion, NewTenant, ProvisionError, Transition};
use crate::store::{AuditFilter, TenantChanges, TenantQuery};
use crate::tenancy::TenantStatus;

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/admin/tenants", get(list_tenants).post(create_tenant))
        .route("/api/admin/tenants/statistics", get(statistics))
        .route("/api/admin/tenants/bulk-create", post(bulk_create))
        .route(
            "/api/admin/tenants/bulk-update-modules",
            post(bulk_update_modules),
        )
        .route(
            "/api/admin/tenants/{tenant}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/api/admin/tenants/{tenant}/health", get(health))
        .route(
            "/api/admin/tenants/{tenant}/logo",
            axum::routing::put(upload_logo),
        )
        .route("/api/admin/tenants/{tenant}/domains", post(add_domain))
        .route(
            "/api/admin/tenants/{tenant}/domains/{domain}",
            axum::routing::delete(remove_domain),
        )
        .route("/api/admin/tenants/{tenant}/deploy-site", post(deploy_site))
        .route(
            "/api/admin/tenants/{tenant}/modules/{module}",
            post(toggle_module),
        )
        .route("/api/admin/slots", get(slots))
        .route("/api/admin/audit", get(audit))
        .route("/api/admin/demo-requests", get(list_demo_requests))
        .route(
            "/api/admin/demo-requests/{id}/convert",
            post(convert_demo_request),
        );
    for transition in [
        Transition::Approve,
        Transition::Suspend,
        Transition::Reactivate,
        Transition::Archive,
        Transition::Restore,
    ] {
        router = router.route(
            &format!("/api/admin/tenants/{{tenant}}/{}", transition.name()),
            post(
                move |state: State<AppState>,
                      admin: AdminActor,
                      tenant: Path<String>,
                      body: Bytes| {
                    change_state(state, admin, tenant, body, transition)
                },
            ),
        );
    }
    router
}

/// A platform administrator and where the request came from: what an audited
/// change needs.
pub struct AdminActor {
    id: String,
    origin: OriginOwned,
}

impl AdminActor {
    fn actor(&self) -> Actor<'_> {
        Actor {
            id: &self.id,
            origin: self.origin.borrow(),
        }
    }
}

impl FromRequestParts<AppState> for AdminActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let PlatformAdmin(claims) = PlatformAdmin::from_request_parts(parts, state).await?;
        Ok(Self {
            id: format!("user:{}", claims.sub),
            origin: OriginOwned::from(&parts.headers),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
    contact_email: Option<String>,
    primary_color: Option<String>,
    secondary_color: Option<String>,
}

impl From<CreateTenant> for NewTenant {
    fn from(body: CreateTenant) -> Self {
        Self {
            name: body.name,
            subdomain: body.subdomain,
            modules: body.modules,
            contact_email: body.contact_email,
            primary_color: body.primary_color,
            secondary_color: body.secondary_color,
        }
    }
}

async fn create_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let provisioner = state.provisioner();
    let tenant = provisioner
        .create_tenant(body.into(), &admin.actor())
        .await?;
    let details = provisioner.details(&tenant.id).await?;
    Ok((StatusCode::CREATED, Json(json!(details))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTenants {
    search: Option<String>,
    status: Option<String>,
    #[serde(default = "first_page")]
    page: i64,
    #[serde(default = "default_per_page")]
    per_page: i64,
}

fn first_page() -> i64 {
    1
}

fn default_per_page() -> i64 {
    20
}

/// `page` (from 1) and `per_page` (1 to 100) as LIMIT and OFFSET.
fn paging(page: i64, per_page: i64) -> Result<(i64, i64), ApiError> {
    if page < 1 || !(1..=100).contains(&per_page) {
        return Err(ApiError::Validation(json!({
            "page": "must be 1 or more",
            "per_page": "must be 1 to 100",
        })));
    }
    Ok((per_page, (page - 1).saturating_mul(per_page)))
}

async fn list_tenants(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListTenants>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = paging(query.page, query.per_page)?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<TenantStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::Validation(
                json!({"status": "must be pending, active, suspended or archived"}),
            )
        })?;
    let (tenants, total) = state
        .db
        .list_tenants(&TenantQuery {
            search: query.search.filter(|s| !s.trim().is_empty()),
            status,
            limit,
            offset,
        })
        .await?;
    Ok(Json(json!({
        "items": tenants,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
    })))
}

async fn get_tenant(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.provisioner().details(&tenant).await?)))
}

/// A PATCH body: an absent field is left alone, a `null` clears an optional one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    contact_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    secondary_color: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn update_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<Json<Value>, ApiError> {
    let changes = TenantChanges {
        name: body.name,
        contact_email: body.contact_email,
        primary_color: body.primary_color,
        secondary_color: body.secondary_color,
        logo: None,
    };
    let details = state
        .provisioner()
        .update_tenant(&tenant, changes, &admin.actor())
        .await?;
    Ok(Json(json!(details)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteTenant {
    /// The tenant's subdomain, typed again.
    confirm: String,
}

async fn delete_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<DeleteTenant>,
) -> Result<StatusCode, ApiError> {
    state
        .provisioner()
        .delete_tenant(&tenant, &body.confirm, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

/// approve, suspend, reactivate, archive, restore: `{"reason": ...}` (the body may
/// be empty where a reason is optional).
async fn change_state(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    body: Bytes,
    transition: Transition,
) -> Result<Json<Value>, ApiError> {
    let body: Reason = if body.iter().all(u8::is_ascii_whitespace) {
        Reason::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::Validation(json!({"body": e.to_string()}))
            }
            _ => ApiError::BadRequest(format!("Malformed JSON body: {e}")),
        })?
    };
    let tenant = state
        .provisioner()
        .transition(&tenant, transition, body.reason.as_deref(), &admin.actor())
        .await?;
    Ok(Json(json!(tenant)))
}

async fn upload_logo(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::provisioning::files::MAX_LOGO_BYTES;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let details = state
        .provisioner()
        .set_logo(&tenant, &bytes, &admin.actor())
        .await?;
    Ok(Json(json!(details)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    domain: String,
}

async fn add_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<AddDomain>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let details = state
        .provisioner()
        .add_domain(&tenant, &body.domain, &admin.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(details))))
}

async fn remove_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, domain)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let details = state
        .provisioner()
        .remove_domain(&tenant, &domain, &admin.actor())
        .await?;
    Ok(Json(json!(details)))
}

async fn health(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.provisioner().health(&tenant).await?)))
}

async fn deploy_site(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let files = state
        .provisioner()
        .deploy_site(&tenant, &admin.actor())
        .await?;
    Ok(Json(json!({ "files": files })))
}

async fn statistics(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.db.tenant_statistics().await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkCreate {
    tenants: Vec<CreateTenant>,
}

/// Most tenants one bulk request may create.
const MAX_BULK: usize = 500;

async fn bulk_create(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkCreate>,
) -> Result<Json<Value>, ApiError> {
    if body.tenants.is_empty() || body.tenants.len() > MAX_BULK {
        return Err(ApiError::Validation(
            json!({"tenants": format!("must hold 1 to {MAX_BULK} tenants")}),
        ));
    }
    let tenants = body.tenants.into_iter().map(NewTenant::from).collect();
    let results = state
        .provisioner()
        .bulk_create(tenants, &admin.actor(), |_| {})
        .await;
    let created = results.iter().filter(|r| r.ok).count();
    Ok(Json(json!({
        "created": created,
        "failed": results.len() - created,
        "results": results,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkToggle {
    tenants: Vec<String>,
    module: String,
    enabled: bool,
}

async fn bulk_update_modules(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkToggle>,
) -> Result<Json<Value>, ApiError> {
    if body.tenants.is_empty() || body.tenants.len() > MAX_BULK {
        return Err(ApiError::Validation(
            json!({"tenants": format!("must hold 1 to {MAX_BULK} tenants")}),
        ));
    }
    if state.runtime.module(&body.module).is_none() {
        return Err(ApiError::NotFound(format!(
            "Unknown module {}",
            body.module
        )));
    }
    let results = state
        .provisioner()
        .bulk_toggle(&body.tenants, &body.module, body.enabled, &admin.actor())
        .await;
    let updated = results.iter().filter(|r| r.ok).count();
    Ok(Json(json!({
        "updated": updated,
        "failed": results.len() - updated,
        "results": results,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn toggle_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, module)): Path<(String, String)>,
    JsonBody(body): JsonBody<Toggle>,
) -> Result<Json<crate::provisioning::Toggled>, ApiError> {
    let toggled = state
        .provisioner()
        .toggle_module(&tenant, &module, body.enabled, &admin.actor())
        .await?;
    Ok(Json(toggled))
}

async fn slots(State(state): State<AppState>, _admin: AdminActor) -> Json<Value> {
    Json(json!({ "slots": state.runtime.slots() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// A tenant id or subdomain.
    tenant: Option<String>,
    actor: Option<String>,
    /// An action, or a prefix ending in `.`.
    action: Option<String>,
    /// Milliseconds since the epoch.
    since: Option<i64>,
    until: Option<i64>,
    /// The `next` of the previous page.
    before: Option<i64>,
    #[serde(default = "default_per_page")]
    limit: i64,
}

async fn audit(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=200).contains(&query.limit) {
        return Err(ApiError::Validation(json!({"limit": "must be 1 to 200"})));
    }
    // A deleted tenant is no longer found by subdomain, but its rows are by id.
    let tenant_id = match query.tenant {
        Some(key) => Some(match state.directory.by_key(&key).await? {
            Some(view) => view.tenant.id.clone(),
            None => key,
        }),
        None => None,
    };
    let rows = state
        .db
        .audit_page(&AuditFilter {
            tenant_id,
            actor: query.actor,
            action: query.action,
            since_ms: query.since,
            until_ms: query.until,
            before_seq: query.before,
            limit: query.limit,
        })
        .await?;
    let next = (rows.len() as i64 == query.limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Json(json!({ "items": rows, "next": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDemoRequests {
    status: Option<String>,
    #[serde(default = "first_page")]
    page: i64,
    #[serde(default = "default_per_page")]
    per_page: i64,
}

async fn list_demo_requests(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListDemoRequests>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = paging(query.page, query.per_page)?;
    if query
        .status
        .as_deref()
        .is_some_and(|s| s != "new" && s != "converted")
    {
        return Err(ApiError::Validation(
            json!({"status": "must be new or converted"}),
        ));
    }
    let items = state
        .db
        .list_demo_requests(query.status.as_deref(), limit, offset)
        .await?;
    Ok(Json(
        json!({ "items": items, "page": query.page, "per_page": query.per_page }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Convert {
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
}

async fn convert_demo_request(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Convert>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let provisioner = state.provisioner();
    let tenant = provisioner
        .convert_demo_request(
            &id,
            Conversion {
                subdomain: body.subdomain,
                modules: body.modules,
            },
            &admin.actor(),
        )
        .await?;
    let details = provisioner.details(&tenant.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenant": details,
            "message": "Tenant created; its first admin was mailed an invitation.",
        })),
    ))
}

impl From<ProvisionError> for ApiError {
    fn from(err: ProvisionError) -> Self {
        match err {
            ProvisionError::Invalid(fields) => ApiError::Validation(json!(fields)),
            ProvisionError::SubdomainTaken(s) => {
                ApiError::Conflict(format!("Subdomain {s} is taken"))
            }
            ProvisionError::DomainTaken(d) => ApiError::Conflict(format!("Domain {d} is taken")),
            ProvisionError::UnknownTenant => ApiError::NotFound("Unknown tenant".into()),
            ProvisionError::UnknownModule(m) => ApiError::NotFound(format!("Unknown module {m}")),
            ProvisionError::UnknownDomain(d) => ApiError::NotFound(format!("Unknown domain {d}")),
            ProvisionError::UnknownDemoRequest => ApiError::NotFound("Unknown demo request".into()),
            ProvisionError::DemoRequestConverted => {
                ApiError::Conflict("The demo request was converted already".into())
            }
            ProvisionError::CoreModule(m) => {
                ApiError::Conflict(format!("Module {m} is core and cannot be disabled"))
            }
            ProvisionError::InvalidTransition(m) => ApiError::Conflict(m),
            ProvisionError::ConfirmationMismatch => {
                ApiError::Validation(json!({"confirm": "must repeat the tenant's subdomain"}))
            }
            ProvisionError::Hashing(e) => ApiError::internal(anyhow::Error::msg(e)),
            ProvisionError::Files(e) => ApiError::internal(e),
            ProvisionError::Db(e) => ApiError::internal(e),
        }
    }
}
