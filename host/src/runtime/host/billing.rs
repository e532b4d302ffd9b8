//! `billing`: plan quotas and usage. Plans and usage metering come with the billing
//! work; until then a granted call answers `unsupported`.

use crate::runtime::CallContext;
use crate::runtime::types::{Capability, HostError};

const NOT_YET: &str = "billing quotas are not served by this host version (mosaic 0.1)";

pub fn check_quota(ctx: &CallContext, _metric: &str, _amount: u64) -> Result<(), HostError> {
    ctx.require(Capability::Billing, "billing calls")?;
    Err(HostError::Unsupported(NOT_YET.into()))
}

pub fn record_usage(ctx: &CallContext, _metric: &str, _amount: u64) -> Result<(), HostError> {
    ctx.require(Capability::Billing, "billing calls")?;
    Err(HostError::Unsupported(NOT_YET.into()))
}
