//! `mosaic:platform/billing`: plan quotas and usage. Plans and usage metering come
//! with the billing work; until then a granted call answers `unsupported`.

use super::HostState;
use crate::runtime::bindings::mosaic::platform::billing::Host;
use crate::runtime::bindings::{Capability, HostError};

const NOT_YET: &str = "billing quotas are not served by this host version (mosaic 0.1)";

impl HostState {
    fn billing_granted(&self) -> wasmtime::Result<Result<(), HostError>> {
        Ok(if self.ctx()?.module.has_capability(Capability::Billing) {
            Err(HostError::Unsupported(NOT_YET.into()))
        } else {
            Err(HostError::Forbidden(
                "billing calls need the `billing` capability in the manifest".into(),
            ))
        })
    }
}

impl Host for HostState {
    async fn check_quota(
        &mut self,
        _metric: String,
        _amount: u64,
    ) -> wasmtime::Result<Result<(), HostError>> {
        self.billing_granted()
    }

    async fn record_usage(
        &mut self,
        _metric: String,
        _amount: u64,
    ) -> wasmtime::Result<Result<(), HostError>> {
        self.billing_granted()
    }
}
