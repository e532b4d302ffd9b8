//! `/api/admin/demo-requests...`: demo requests, and turning one into a tenant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminActor, default_per_page, first_page, paging};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::provisioning::{Conversion, TenantDetails};
use crate::store::DemoRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_demo_requests))
        .routes(routes!(convert_demo_request))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListDemoRequests {
    /// `new` or `converted`.
    status: Option<String>,
    /// From 1.
    #[serde(default = "first_page")]
    page: i64,
    /// 1 to 100.
    #[serde(default = "default_per_page")]
    per_page: i64,
}

#[derive(serde::Serialize, ToSchema)]
struct DemoRequestPage {
    items: Vec<DemoRequest>,
    page: i64,
    per_page: i64,
}

/// Demo requests, newest first.
#[utoipa::path(
    get, path = "/api/admin/demo-requests", tag = "admin",
    params(ListDemoRequests),
    responses((status = 200, body = DemoRequestPage)),
    security(("bearer" = [])),
)]
async fn list_demo_requests(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListDemoRequests>,
) -> Result<Json<DemoRequestPage>, ApiError> {
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
    Ok(Json(DemoRequestPage {
        items,
        page: query.page,
        per_page: query.per_page,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Convert {
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
}

#[derive(serde::Serialize, ToSchema)]
struct Converted {
    tenant: TenantDetails,
    message: &'static str,
}

/// Turns a demo request into an active tenant whose first admin, the requester, is
/// mailed an invitation.
#[utoipa::path(
    post, path = "/api/admin/demo-requests/{id}/convert", tag = "admin",
    params(("id" = String, Path, description = "The demo request's id")),
    request_body = Convert,
    responses((status = 201, body = Converted), (status = 409, description = "Converted already, or the subdomain is taken")),
    security(("bearer" = [])),
)]
async fn convert_demo_request(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Convert>,
) -> Result<(StatusCode, Json<Converted>), ApiError> {
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
        Json(Converted {
            tenant: details,
            message: "Tenant created; its first admin was mailed an invitation.",
        }),
    ))
}
