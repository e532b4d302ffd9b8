//! `/api/admin/payments` and `/api/admin/billing`: platform admins verify the
//! payments tenants submit (approve, or reject with a reason; each audited), and
//! see the platform's billing dashboard.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::store::{Payment, PaymentStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/payments", get(list))
        .route("/api/admin/payments/{id}", get(show))
        .route("/api/admin/payments/{id}/proof", get(proof))
        .route("/api/admin/payments/{id}/approve", post(approve))
        .route("/api/admin/payments/{id}/reject", post(reject))
        .route("/api/admin/billing/dashboard", get(dashboard))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<PaymentStatus>,
    /// A tenant's id or subdomain.
    tenant: Option<String>,
}

/// Payments, newest first, by status (`?status=pending_verification` is the
/// verification queue) and tenant.
async fn list(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = match &query.tenant {
        Some(key) => Some(
            state
                .provisioner()
                .find_tenant(key)
                .await?
                .tenant
                .id
                .clone(),
        ),
        None => None,
    };
    let items = state
        .db
        .payments(tenant.as_deref(), query.status, 1000)
        .await?;
    Ok(Json(json!({ "items": items })))
}

async fn find(state: &AppState, id: &str) -> Result<Payment, ApiError> {
    state
        .db
        .payment(None, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such payment".into()))
}

/// A payment with the invoice it pays.
async fn show(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let payment = find(&state, &id).await?;
    let invoice = state
        .db
        .invoice(&payment.tenant_id, &payment.invoice_id)
        .await?;
    Ok(Json(json!({ "payment": payment, "invoice": invoice })))
}

/// The proof as it was uploaded, served as an attachment with the type its bytes
/// were judged to be (never rendered inline by the admin's browser).
async fn proof(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let payment = find(&state, &id).await?;
    let bytes = state
        .db
        .payment_proof(&payment.tenant_id, &payment.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such payment".into()))?;
    let file_name: String = payment
        .proof
        .name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' || *c == ' ')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, payment.proof.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// Approves a pending payment: the invoice is paid and the subscription active
/// for its period, at once on every replica. A payment is approved once: a
/// second approval, even at the same moment, is a 409.
async fn approve(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let reviewed = state
        .provisioner()
        .approve_payment(&id, &admin.actor())
        .await?;
    Ok(Json(json!(reviewed)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rejection {
    reason: String,
}

/// Rejects a pending payment with a reason the tenant sees.
async fn reject(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rejection>,
) -> Result<Json<Value>, ApiError> {
    let reviewed = state
        .provisioner()
        .reject_payment(&id, &body.reason, &admin.actor())
        .await?;
    Ok(Json(json!(reviewed)))
}

/// Recurring revenue, subscriptions by state, the verification queue and the
/// overdue tenants.
async fn dashboard(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<Value>, ApiError> {
    let now = state.config.clock.now_ms();
    let dashboard = crate::billing::PlatformDashboard::load(&state.db, now).await?;
    Ok(Json(json!(dashboard)))
}
