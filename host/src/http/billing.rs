//! `/api/billing/`: what tenants see of billing: the public plan catalog, and for
//! tenant admins the subscription, invoices (JSON and PDF), payments with their
//! proofs, and the dashboard.

use axum::Json;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::extract::TenantCaller;
use crate::AppState;
use crate::auth::Role;
use crate::billing::SubscriptionStatus;
use crate::http::ApiError;
use crate::store::invoices::Invoice;
use crate::store::plans::Plan;
use crate::store::{
    AuditEntry, NewPayment, Origin, Payment, PaymentRefusal, Proof, Renewed, Subscription,
    SubscriptionRefusal,
};

/// The largest proof of payment.
pub const MAX_PROOF_BYTES: usize = 5 * 1024 * 1024;
/// The proof's content types, judged by its bytes.
const PROOF_TYPES: &[&str] = &["application/pdf", "image/png", "image/jpeg"];
/// How a payment was made.
const METHODS: &[&str] = &[
    "bank_transfer",
    "card",
    "cash",
    "cheque",
    "mobile_money",
    "other",
];
const MAX_REFERENCE_CHARS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    // The same routes with a trailing slash, undocumented.
    let aliases = axum::Router::new()
        .route("/api/billing/plans/", get(plans))
        .route("/api/billing/subscription/", get(subscription))
        .route("/api/billing/invoices/", get(invoices))
        .route("/api/billing/payments/", get(payments));
    OpenApiRouter::new()
        .routes(routes!(plans))
        .routes(routes!(subscription))
        .routes(routes!(cancel))
        .routes(routes!(renew))
        .routes(routes!(invoices))
        .routes(routes!(invoice))
        .routes(routes!(invoice_pdf))
        .routes(
            routes!(payments, submit_payment)
                // The proof and the form around it.
                .layer(DefaultBodyLimit::max(MAX_PROOF_BYTES + 64 * 1024)),
        )
        .routes(routes!(dashboard))
        .merge(aliases.into())
}

/// A list of `T`.
#[derive(serde::Serialize, ToSchema)]
pub(super) struct Items<T> {
    pub items: Vec<T>,
}

/// The plan, the subscription, the next invoice and usage against each limit.
#[utoipa::path(
    get, path = "/api/billing/dashboard", tag = "billing",
    responses((status = 200, body = crate::billing::TenantDashboard)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn dashboard(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<crate::billing::TenantDashboard>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    let now = state.config.clock.now_ms();
    let dashboard = crate::billing::TenantDashboard::load(&state.db, tenant, now)
        .await?
        .ok_or_else(|| ApiError::NotFound("The tenant has no subscription".into()))?;
    Ok(Json(dashboard))
}

/// The tenant, if the caller is one of its admins.
fn tenant_admin(auth: &TenantCaller) -> Result<&crate::store::Tenant, ApiError> {
    if auth.caller.role < Role::TenantAdmin {
        return Err(ApiError::Forbidden(
            "Only tenant admins manage the tenant's billing".into(),
        ));
    }
    Ok(&auth.tenant.tenant)
}

/// Every plan that takes subscribers, in sort order: price, period, modules and
/// limits. Public, for a pricing page.
#[utoipa::path(
    get, path = "/api/billing/plans", tag = "billing",
    responses((status = 200, body = Items<Plan>)),
)]
async fn plans(State(state): State<AppState>) -> Result<Json<Items<Plan>>, ApiError> {
    Ok(Json(Items {
        items: state.db.plans(false).await?,
    }))
}

/// The tenant's plan and subscription (tenant admins): state, the times that move
/// it, and the days left.
#[utoipa::path(
    get, path = "/api/billing/subscription", tag = "billing",
    responses((status = 200, body = SubscriptionStatus)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn subscription(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<SubscriptionStatus>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    let subscription = state
        .db
        .subscription(&tenant.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("The tenant has no subscription".into()))?;
    let plan = state.db.plan(&tenant.plan).await?;
    let status = SubscriptionStatus::new(plan, subscription, state.config.clock.now_ms());
    Ok(Json(status))
}

fn subscription_refusal(refused: SubscriptionRefusal, action: &str) -> ApiError {
    match refused {
        SubscriptionRefusal::NoSubscription => {
            ApiError::NotFound("The tenant has no subscription".into())
        }
        SubscriptionRefusal::Not(state) => ApiError::Conflict(format!(
            "A subscription that is {} cannot be {action}",
            state.as_str()
        )),
    }
}

/// Cancels an active subscription: it is served to the end of the paid period.
#[utoipa::path(
    post, path = "/api/billing/subscription/cancel", tag = "billing",
    responses((status = 200, body = Subscription), (status = 409, description = "Not active")),
    security(("bearer" = [], "tenant" = [])),
)]
async fn cancel(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
) -> Result<Json<Subscription>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    let actor = format!("user:{}", auth.caller.user_id);
    let target = format!("subscription:{}", tenant.id);
    let audit = AuditEntry::new(
        &origin,
        &actor,
        Some(&tenant.id),
        "subscription.cancel",
        &target,
    );
    let now = state.config.clock.now_ms();
    let cancelled = state
        .db
        .cancel_subscription(&tenant.id, now, audit)
        .await?
        .map_err(|r| subscription_refusal(r, "cancelled"))?;
    state.directory.refresh(&tenant.id).await?;
    Ok(Json(cancelled))
}

/// Renews: a cancelled subscription is active again; one on trial, past due or
/// expired gets the invoice to pay for its next period (its open one, or a new
/// one: an expired subscription's period starts when it is paid).
#[utoipa::path(
    post, path = "/api/billing/subscription/renew", tag = "billing",
    responses((status = 200, body = Renewed), (status = 409, description = "Active already")),
    security(("bearer" = [], "tenant" = [])),
)]
async fn renew(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
) -> Result<Json<Renewed>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    let plan = state
        .db
        .plan(&tenant.plan)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("tenant's plan is missing")))?;
    let now = state.config.clock.now_ms();
    let settings = &state.config.billing;
    let invoice = |subscription: &crate::store::Subscription| {
        settings.renewal_invoice(&plan, subscription, now)
    };
    let actor = format!("user:{}", auth.caller.user_id);
    let target = format!("subscription:{}", tenant.id);
    let audit = AuditEntry::new(
        &origin,
        &actor,
        Some(&tenant.id),
        "subscription.renew",
        &target,
    );
    let renewed = state
        .db
        .renew_subscription(&tenant.id, &invoice, now, audit)
        .await?
        .map_err(|r| subscription_refusal(r, "renewed"))?;
    state.directory.refresh(&tenant.id).await?;
    Ok(Json(renewed))
}

/// The tenant's invoices, newest first.
#[utoipa::path(
    get, path = "/api/billing/invoices", tag = "billing",
    responses((status = 200, body = Items<Invoice>)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn invoices(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<Items<Invoice>>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    Ok(Json(Items {
        items: state.db.invoices(&tenant.id).await?,
    }))
}

async fn find_invoice(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<crate::store::invoices::Invoice, ApiError> {
    state
        .db
        .invoice(tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such invoice".into()))
}

#[utoipa::path(
    get, path = "/api/billing/invoices/{id}", tag = "billing",
    params(("id" = String, Path, description = "The invoice's id")),
    responses((status = 200, body = Invoice)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn invoice(
    State(state): State<AppState>,
    auth: TenantCaller,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    Ok(Json(find_invoice(&state, &tenant.id, &id).await?))
}

/// The invoice as an A4 PDF.
#[utoipa::path(
    get, path = "/api/billing/invoices/{id}/pdf", tag = "billing",
    params(("id" = String, Path, description = "The invoice's id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn invoice_pdf(
    State(state): State<AppState>,
    auth: TenantCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant_admin(&auth)?;
    let invoice = find_invoice(&state, &tenant.id, &id).await?;
    let pdf = crate::billing::pdf::render(&invoice, tenant, &state.config.billing.platform_name);
    Ok(pdf_response(pdf, &invoice.label))
}

pub(super) fn pdf_response(pdf: Vec<u8>, label: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{label}.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response()
}

/// The tenant's payments, newest first.
#[utoipa::path(
    get, path = "/api/billing/payments", tag = "billing",
    responses((status = 200, body = Items<Payment>)),
    security(("bearer" = [], "tenant" = [])),
)]
async fn payments(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<Items<Payment>>, ApiError> {
    let tenant = tenant_admin(&auth)?;
    Ok(Json(Items {
        items: state.db.payments(Some(&tenant.id), None, 1000).await?,
    }))
}

pub(super) fn payment_refusal(refused: PaymentRefusal) -> ApiError {
    let message = refused.to_string();
    match refused {
        PaymentRefusal::UnknownInvoice | PaymentRefusal::UnknownPayment => {
            ApiError::NotFound(message)
        }
        PaymentRefusal::InvoiceNot(_)
        | PaymentRefusal::AlreadyPending
        | PaymentRefusal::AlreadyReviewed(_) => ApiError::Conflict(message),
    }
}

fn multipart_error(err: &MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(MAX_PROOF_BYTES)
    } else {
        ApiError::BadRequest(format!("Malformed multipart body: {}", err.body_text()))
    }
}

/// The form of a payment: which invoice, how it was paid, and the proof.
#[derive(Default, ToSchema)]
struct PaymentForm {
    /// The id of the invoice paid.
    invoice: Option<String>,
    /// `bank_transfer`, `card`, `cash`, `cheque`, `mobile_money` or `other`.
    method: Option<String>,
    /// At most 100 characters, one line.
    reference: Option<String>,
    /// A PDF, PNG or JPEG file, judged by its content; at most 5 MiB.
    #[schema(value_type = Option<Vec<u8>>, format = Binary)]
    proof: Option<(String, Vec<u8>)>,
}

impl PaymentForm {
    async fn read(mut form: Multipart) -> Result<Self, ApiError> {
        let mut out = Self::default();
        while let Some(mut field) = form.next_field().await.map_err(|e| multipart_error(&e))? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "proof" {
                let file_name = proof_name(field.file_name());
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
                    if bytes.len() + chunk.len() > MAX_PROOF_BYTES {
                        return Err(ApiError::PayloadTooLarge(MAX_PROOF_BYTES));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                out.proof = Some((file_name, bytes));
                continue;
            }
            let slot = match name.as_str() {
                "invoice" => &mut out.invoice,
                "method" => &mut out.method,
                "reference" => &mut out.reference,
                other => {
                    return Err(ApiError::Validation(
                        json!({ other: "unknown field; expected invoice, method, reference and proof" }),
                    ));
                }
            };
            let text = field.text().await.map_err(|e| multipart_error(&e))?;
            *slot = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        }
        Ok(out)
    }
}

/// A file name for display: its last path segment, without control characters.
fn proof_name(sent: Option<&str>) -> String {
    let last = sent
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "proof".into()
    } else {
        clean
    }
}

/// Submits a payment of an open invoice with its proof (`multipart/form-data`:
/// `invoice`, `method`, optional `reference`, and the `proof` file: PDF, PNG or
/// JPEG by its content, at most 5 MiB). It awaits a platform admin's verification.
#[utoipa::path(
    post, path = "/api/billing/payments", tag = "billing",
    request_body(content = PaymentForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Payment),
        (status = 409, description = "The invoice is paid or void, or a payment of it awaits verification"),
        (status = 413, description = "The proof is over 5 MiB"),
        (status = 415, description = "Not a form, or a proof that is no PDF, PNG or JPEG"),
    ),
    security(("bearer" = [], "tenant" = [])),
)]
async fn submit_payment(
    State(state): State<AppState>,
    auth: TenantCaller,
    origin: Origin,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    let tenant = tenant_admin(&auth)?;
    let form = form.map_err(|_| {
        ApiError::UnsupportedMediaType("Expected Content-Type: multipart/form-data".into())
    })?;
    let form = PaymentForm::read(form).await?;
    let mut problems = serde_json::Map::new();
    if form.invoice.is_none() {
        problems.insert(
            "invoice".into(),
            json!("required: the id of the invoice paid"),
        );
    }
    match form.method.as_deref() {
        Some(m) if METHODS.contains(&m) => {}
        _ => {
            problems.insert(
                "method".into(),
                json!(format!("one of {}", METHODS.join(", "))),
            );
        }
    }
    if form
        .reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS || r.chars().any(char::is_control))
    {
        problems.insert(
            "reference".into(),
            json!(format!(
                "at most {MAX_REFERENCE_CHARS} characters, on one line"
            )),
        );
    }
    if form
        .proof
        .as_ref()
        .is_none_or(|(_, bytes)| bytes.is_empty())
    {
        problems.insert("proof".into(), json!("required: a PDF, PNG or JPEG file"));
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(Value::Object(problems)));
    }
    let (name, bytes) = form.proof.unwrap_or_default();
    let content_type = infer::get(&bytes)
        .map(|kind| kind.mime_type())
        .filter(|mime| PROOF_TYPES.contains(mime))
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "The proof must be a PDF, PNG or JPEG file (judged by its content)".into(),
            )
        })?;
    let proof = Proof {
        name,
        content_type: content_type.to_owned(),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    let actor = format!("user:{}", auth.caller.user_id);
    let invoice_id = form.invoice.unwrap_or_default();
    let target = format!("invoice:{invoice_id}");
    let audit = AuditEntry::new(&origin, &actor, Some(&tenant.id), "payment.submit", &target)
        .after(&json!({ "method": form.method, "reference": form.reference, "proof": proof }));
    let new = NewPayment {
        invoice_id: &invoice_id,
        method: form.method.as_deref().unwrap_or_default(),
        reference: form.reference.as_deref(),
        proof: &proof,
        proof_bytes: &bytes,
        submitted_by: &actor,
    };
    let now = state.config.clock.now_ms();
    let payment = state
        .db
        .submit_payment(&tenant.id, &new, now, audit)
        .await?
        .map_err(payment_refusal)?;
    tracing::info!(payment = %payment.id, invoice = %payment.invoice_id, "payment submitted");
    Ok((StatusCode::CREATED, Json(payment)))
}
