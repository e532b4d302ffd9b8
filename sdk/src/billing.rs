//! The tenant's plan limits and usage metering. Needs
//! [`crate::Capability::Billing`].
//!
//! [`check_quota`] before creating what a plan limits: `employees`, `users` and
//! `storage_bytes` are counted by the host (within this request's unit of work), and
//! a refusal is [`crate::Error::QuotaExceeded`], answered as 402 with the limit and
//! the plan. [`record_usage`] meters anything else, per month, with this request's
//! writes.

use crate::Result;
use crate::bindings::mosaic::platform::billing as wit;

/// `Err(QuotaExceeded)` when `amount` more of `metric` would pass the plan's limit.
pub fn check_quota(metric: &str, amount: u64) -> Result<()> {
    wit::check_quota(metric, amount).map_err(Into::into)
}

/// Adds `amount` to this month's usage of `metric` (not one the host measures).
pub fn record_usage(metric: &str, amount: u64) -> Result<()> {
    wit::record_usage(metric, amount).map_err(Into::into)
}
