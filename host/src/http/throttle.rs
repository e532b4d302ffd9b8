//! Rate limits: one token bucket per tenant, so a noisy tenant is refused with a 429
//! while the others go on at full speed, and one per client address for the public
//! demo-request form.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use crate::config::{Config, RateLimit};

pub struct Throttle {
    tenants: Option<DefaultKeyedRateLimiter<String>>,
    demo_requests: DefaultKeyedRateLimiter<IpAddr>,
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Throttle {
    pub fn new(config: &Config) -> Self {
        let tenant_quota = |limit: RateLimit| {
            Quota::per_second(at_least_one(limit.per_second)).allow_burst(at_least_one(limit.burst))
        };
        Self {
            tenants: config
                .tenant_rate_limit
                .filter(|l| l.per_second > 0)
                .map(|limit| RateLimiter::keyed(tenant_quota(limit))),
            demo_requests: RateLimiter::keyed(Quota::per_hour(at_least_one(
                config.demo_requests_per_hour,
            ))),
        }
    }

    /// Takes one request from the tenant's bucket.
    pub fn tenant(&self, tenant_id: &String) -> Result<(), ApiError> {
        match &self.tenants {
            Some(limiter) => limiter.check_key(tenant_id).map_err(refusal),
            None => Ok(()),
        }
    }

    /// Takes one demo request from the client's bucket.
    pub fn demo_request(&self, client: IpAddr) -> Result<(), ApiError> {
        self.demo_requests.check_key(&client).map_err(refusal)
    }

    /// Forgets buckets that are full again, so the maps do not grow without bound.
    pub fn shrink(&self) {
        if let Some(limiter) = &self.tenants {
            limiter.retain_recent();
        }
        self.demo_requests.retain_recent();
    }
}

fn refusal(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}
