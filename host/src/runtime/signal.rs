//! Wake-ups for the background workers that act per tenant.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// Tenants with news for a background worker (events to deliver, schedules to
/// look at) since it last looked, and its wake-up.
#[derive(Default)]
pub struct TenantSignal {
    tenants: Mutex<HashSet<String>>,
    notify: Notify,
}

impl TenantSignal {
    pub fn wake(&self, tenant_id: &str) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant_id.to_owned());
        self.notify.notify_one();
    }

    /// Waits for a wake-up; answers the tenants woken since the last call.
    pub async fn woken(&self) -> Vec<String> {
        self.notify.notified().await;
        self.take()
    }

    /// The tenants woken so far, without waiting.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.tenants.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .collect()
    }
}
