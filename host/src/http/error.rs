//! The one error type of the HTTP layer and its stable JSON shape:
//! `{"error": ..., "code": ..., "request_id": ...}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Validation failed")]
    Validation(Value),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("Request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The module gate's answer, in its documented shape.
    #[error("Module not enabled")]
    ModuleNotEnabled(String),
    /// The tenant's plan does not include the module; `upgrade_to` is the cheapest
    /// plan that does.
    #[error("Module {module} is not in the {plan} plan")]
    NotInPlan {
        module: String,
        plan: String,
        upgrade_to: Option<String>,
    },
    #[error("Tenant is {0}")]
    TenantInactive(&'static str),
    /// A plan limit the request would pass.
    #[error("{}", .0.message)]
    QuotaExceeded(crate::billing::Quota),
    /// The tenant's subscription has expired: its modules wait for a payment.
    #[error(
        "The subscription has expired: pay the open invoice, or renew, to use the modules again"
    )]
    SubscriptionExpired,
    /// Too many failed logins; seconds until the next attempt is allowed.
    #[error("Account is locked after too many failed logins")]
    Locked(u64),
    /// Over a rate limit; seconds until a request will be let through.
    #[error("Too many requests")]
    RateLimited(u64),
    #[error("{0}")]
    Unavailable(String),
    /// A module call failed; `code` says how.
    #[error("{message}")]
    ModuleFailed { code: &'static str, message: String },
    #[error("Internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::ModuleNotEnabled(_) => (StatusCode::FORBIDDEN, "module_not_enabled"),
            Self::NotInPlan { .. } => (StatusCode::FORBIDDEN, "plan_upgrade_required"),
            Self::TenantInactive(_) => (StatusCode::FORBIDDEN, "tenant_inactive"),
            Self::SubscriptionExpired => (StatusCode::PAYMENT_REQUIRED, "subscription_expired"),
            Self::QuotaExceeded(_) => (StatusCode::PAYMENT_REQUIRED, "quota_exceeded"),
            Self::Locked(_) => (StatusCode::LOCKED, "account_locked"),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::ModuleFailed { code, .. } => (StatusCode::INTERNAL_SERVER_ERROR, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let request_id = request_id();
        let body = match &self {
            Self::ModuleNotEnabled(module) => {
                json!({"error": "Module not enabled", "module": module, "upgrade": true})
            }
            Self::NotInPlan {
                module, upgrade_to, ..
            } => json!({
                "error": self.to_string(), "code": code, "module": module, "upgrade": true,
                "plan": upgrade_to, "request_id": request_id
            }),
            Self::QuotaExceeded(quota) => {
                let mut body = quota.details();
                body["error"] = json!(quota.message);
                body["code"] = json!(code);
                body["request_id"] = json!(request_id);
                body
            }
            Self::SubscriptionExpired => json!({
                "error": self.to_string(), "code": code, "request_id": request_id,
                "renew": {
                    "invoices": "/api/billing/invoices",
                    "pay": "POST /api/billing/payments",
                    "renew": "POST /api/billing/subscription/renew",
                },
            }),
            Self::Locked(retry_after) | Self::RateLimited(retry_after) => json!({
                "error": self.to_string(), "code": code, "retry_after": retry_after, "request_id": request_id
            }),
            Self::Validation(fields) => {
                json!({"error": self.to_string(), "code": code, "fields": fields, "request_id": request_id})
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                json!({"error": self.to_string(), "code": code, "request_id": request_id})
            }
            _ => json!({"error": self.to_string(), "code": code, "request_id": request_id}),
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            Self::Unavailable(_) => Some(1),
            Self::Locked(secs) | Self::RateLimited(secs) => Some(secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}
