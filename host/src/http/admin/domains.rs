//! `/api/admin/tenants/{tenant}/domains...`: custom domains.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::JsonBody;
use crate::provisioning::TenantDetails;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_domain))
        .routes(routes!(remove_domain))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    /// A host name of the tenant's own: not the base domain or a name under it, no
    /// IP address, no reserved name.
    domain: String,
}

/// Serves the tenant under a domain of its own.
#[utoipa::path(
    post, path = "/api/admin/tenants/{tenant}/domains", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    request_body = AddDomain,
    responses((status = 201, body = TenantDetails), (status = 409, description = "Another tenant's domain")),
    security(("bearer" = [])),
)]
async fn add_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<AddDomain>,
) -> Result<(StatusCode, Json<TenantDetails>), ApiError> {
    let details = state
        .provisioner()
        .add_domain(&tenant, &body.domain, &admin.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(details)))
}

#[utoipa::path(
    delete, path = "/api/admin/tenants/{tenant}/domains/{domain}", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme"),
        ("domain" = String, Path, description = "One of its domains"),
    ),
    responses((status = 200, body = TenantDetails)),
    security(("bearer" = [])),
)]
async fn remove_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, domain)): Path<(String, String)>,
) -> Result<Json<TenantDetails>, ApiError> {
    let details = state
        .provisioner()
        .remove_domain(&tenant, &domain, &admin.actor())
        .await?;
    Ok(Json(details))
}
