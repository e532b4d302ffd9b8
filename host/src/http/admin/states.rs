//! `/api/admin/tenants/{tenant}/{approve,suspend,reactivate,archive,restore}`.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::provisioning::Transition;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
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
        let value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
        crate::http::extract::body_object(value)?
    };
    let provisioner = state.provisioner();
    let tenant = provisioner
        .transition(&tenant, transition, body.reason.as_deref(), &admin.actor())
        .await?;
    // The same shape as GET and create answer.
    Ok(Json(json!(provisioner.details(&tenant.id).await?)))
}
