//! `/api/admin/tenants/{tenant}/{approve,suspend,reactivate,archive,restore}`.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::provisioning::{TenantDetails, Transition};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(approve))
        .routes(routes!(suspend))
        .routes(routes!(reactivate))
        .routes(routes!(archive))
        .routes(routes!(restore))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reason {
    /// Why: required to suspend and to archive; at most 500 characters.
    reason: Option<String>,
}

/// One handler per transition, each with its description.
macro_rules! transition {
    ($handler:ident, $transition:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            post, path = $path, tag = "admin",
            params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
            request_body(content = Option<Reason>, description = "May be empty where a reason is optional"),
            responses(
                (status = 200, body = TenantDetails),
                (status = 409, description = "Not allowed from the tenant's current state"),
            ),
            security(("bearer" = [])),
        )]
        async fn $handler(
            state: State<AppState>,
            admin: AdminActor,
            tenant: Path<String>,
            body: Bytes,
        ) -> Result<Json<TenantDetails>, ApiError> {
            change_state(state, admin, tenant, body, $transition).await
        }
    };
}

transition!(
    approve,
    Transition::Approve,
    "/api/admin/tenants/{tenant}/approve",
    "A pending sign-up becomes active; its trial starts now."
);
transition!(
    suspend,
    Transition::Suspend,
    "/api/admin/tenants/{tenant}/suspend",
    "An active tenant is suspended, with a reason: its requests are refused."
);
transition!(
    reactivate,
    Transition::Reactivate,
    "/api/admin/tenants/{tenant}/reactivate",
    "A suspended tenant is active again."
);
transition!(
    archive,
    Transition::Archive,
    "/api/admin/tenants/{tenant}/archive",
    "An active or suspended tenant is archived, with a reason."
);
transition!(
    restore,
    Transition::Restore,
    "/api/admin/tenants/{tenant}/restore",
    "An archived tenant is active again."
);

/// approve, suspend, reactivate, archive, restore: `{"reason": ...}` (the body may
/// be empty where a reason is optional).
async fn change_state(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    body: Bytes,
    transition: Transition,
) -> Result<Json<TenantDetails>, ApiError> {
    let body: Reason = if body.iter().all(u8::is_ascii_whitespace) {
        Reason::default()
    } else {
        let value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
        crate::http::extract::body_object(value)?
    };
    let provisioner = state.provisioner();
    let tenant = provisioner
        .transition(&tenant, transition, body.reason.as_deref(), &admin.actor())
        .await?;
    // The same shape as GET and create answer.
    Ok(Json(provisioner.details(&tenant.id).await?))
}
