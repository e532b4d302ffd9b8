//! The tenant's wallet settings (`PUT /api/admin/tenants/{t}/modules/wallet/settings`):
//!
//! - `currency`: ISO 4217 code of new accounts, `USD` by default;
//! - `allow_overdraft`: whether a debit may take a balance below zero (false);
//! - `overdraft_limit`: with overdrafts allowed, how far below zero, in minor units
//!   (no limit when absent);
//! - `payout_period`: `month` (default) or `week`, the period a salary pays for.

use mosaic_sdk::prelude::*;
use mosaic_sdk::tenant;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutPeriod {
    Month,
    Week,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub currency: String,
    pub allow_overdraft: bool,
    pub overdraft_limit: Option<i64>,
    pub payout_period: PayoutPeriod,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            allow_overdraft: false,
            overdraft_limit: None,
            payout_period: PayoutPeriod::Month,
        }
    }
}

impl Settings {
    /// The tenant's settings. Settings an admin got wrong are a 409 that says which,
    /// not a silent default: money must not move in a currency nobody chose.
    pub fn current() -> Result<Self> {
        let text = tenant::current().settings;
        let settings: Self = serde_json::from_str(&text).map_err(|e| {
            Error::Conflict(format!("The tenant's wallet settings are invalid: {e}"))
        })?;
        if !is_currency_code(&settings.currency) {
            return Err(Error::Conflict(format!(
                "The tenant's wallet currency {:?} is not an ISO 4217 code",
                settings.currency
            )));
        }
        if settings.overdraft_limit.is_some_and(|l| l < 0) {
            return Err(Error::Conflict(
                "The tenant's wallet overdraft_limit must not be negative".into(),
            ));
        }
        Ok(settings)
    }

    /// The lowest balance a debit may leave.
    pub fn floor(&self) -> i64 {
        match (self.allow_overdraft, self.overdraft_limit) {
            (false, _) => 0,
            (true, Some(limit)) => -limit,
            (true, None) => i64::MIN,
        }
    }
}

/// Three upper-case letters, the shape of every ISO 4217 code.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}
