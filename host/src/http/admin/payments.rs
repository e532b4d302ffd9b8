//! `/api/admin/payments` and `/api/admin/billing`: platform admins verify the
//! payments tenants submit (approve, or reject with a reason; each audited), and
//! see the platform's billing dashboard.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::billing::PlatformDashboard;
use crate::http::ApiError;
use crate::http::billing::Items;
use crate::http::extract::{JsonBody, QueryParams};
use crate::store::invoices::Invoice;
use crate::store::{Payment, PaymentStatus, Reviewed};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(proof))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(dashboard))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(inline)]
    status: Option<PaymentStatus>,
    /// A tenant's id or subdomain.
    tenant: Option<String>,
}

/// Payments, newest first, by status (`?status=pending_verification` is the
/// verification queue) and tenant.
#[utoipa::path(
    get, path = "/api/admin/payments", tag = "admin",
    params(ListQuery),
    responses((status = 200, body = Items<Payment>)),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Items<Payment>>, ApiError> {
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
    Ok(Json(Items { items }))
}

async fn find(state: &AppState, id: &str) -> Result<Payment, ApiError> {
    state
        .db
        .payment(None, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such payment".into()))
}

#[derive(serde::Serialize, ToSchema)]
struct PaymentWithInvoice {
    payment: Payment,
    invoice: Option<Invoice>,
}

/// A payment with the invoice it pays.
#[utoipa::path(
    get, path = "/api/admin/payments/{id}", tag = "admin",
    params(("id" = String, Path, description = "The payment's id")),
    responses((status = 200, body = PaymentWithInvoice)),
    security(("bearer" = [])),
)]
async fn show(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(id): Path<String>,
) -> Result<Json<PaymentWithInvoice>, ApiError> {
    let payment = find(&state, &id).await?;
    let invoice = state
        .db
        .invoice(&payment.tenant_id, &payment.invoice_id)
        .await?;
    Ok(Json(PaymentWithInvoice { payment, invoice }))
}

/// The proof as it was uploaded, served as an attachment with the type its bytes
/// were judged to be (never rendered inline by the admin's browser).
#[utoipa::path(
    get, path = "/api/admin/payments/{id}/proof", tag = "admin",
    params(("id" = String, Path, description = "The payment's id")),
    responses((status = 200, description = "A PDF, PNG or JPEG file", content_type = "application/octet-stream", body = Vec<u8>)),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    post, path = "/api/admin/payments/{id}/approve", tag = "admin",
    params(("id" = String, Path, description = "The payment's id")),
    responses((status = 200, body = Reviewed), (status = 409, description = "Reviewed already")),
    security(("bearer" = [])),
)]
async fn approve(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
) -> Result<Json<Reviewed>, ApiError> {
    let reviewed = state
        .provisioner()
        .approve_payment(&id, &admin.actor())
        .await?;
    Ok(Json(reviewed))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rejection {
    reason: String,
}

/// Rejects a pending payment with a reason the tenant sees.
#[utoipa::path(
    post, path = "/api/admin/payments/{id}/reject", tag = "admin",
    params(("id" = String, Path, description = "The payment's id")),
    request_body = Rejection,
    responses((status = 200, body = Reviewed), (status = 409, description = "Reviewed already")),
    security(("bearer" = [])),
)]
async fn reject(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rejection>,
) -> Result<Json<Reviewed>, ApiError> {
    let reviewed = state
        .provisioner()
        .reject_payment(&id, &body.reason, &admin.actor())
        .await?;
    Ok(Json(reviewed))
}

/// Recurring revenue, subscriptions by state, the verification queue and the
/// overdue tenants.
#[utoipa::path(
    get, path = "/api/admin/billing/dashboard", tag = "admin",
    responses((status = 200, body = PlatformDashboard)),
    security(("bearer" = [])),
)]
async fn dashboard(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<PlatformDashboard>, ApiError> {
    let now = state.config.clock.now_ms();
    Ok(Json(PlatformDashboard::load(&state.db, now).await?))
}
