//! Rate limits: one token bucket per tenant, so a noisy tenant is refused with a 429
//! while the others go on at full speed, and one per client address for the public
//! demo-request form.
//!
//! A tenant's rate is the host's, or its plan's `max_requests_per_second` where that
//! is lower; the burst is the host's either way. Tenants of one rate share a keyed
//! limiter, so there are as many limiters as distinct plan rates.

use std::net::IpAddr;
use std::num::NonZeroU32;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use crate::config::{Config, RateLimit};

pub struct Throttle {
    tenants: Option<TenantLimits>,
    demo_requests: DefaultKeyedRateLimiter<IpAddr>,
}

struct TenantLimits {
    host: RateLimit,
    /// At the host's rate.
    default: DefaultKeyedRateLimiter<String>,
    /// At lower rates that plans set, by rate.
    by_rate: DashMap<u32, DefaultKeyedRateLimiter<String>>,
}

impl TenantLimits {
    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota::per_second(at_least_one(per_second)).allow_burst(at_least_one(burst))
    }

    fn check(&self, tenant_id: &String, plan_rate: Option<i64>) -> Result<(), ApiError> {
        let rate = plan_rate
            .and_then(|r| u32::try_from(r.max(1)).ok())
            .filter(|r| *r < self.host.per_second);
        let Some(rate) = rate else {
            return self.default.check_key(tenant_id).map_err(refusal);
        };
        // A read lock on the map's shard for every request; the write lock only the
        // first time a rate is seen.
        if let Some(limiter) = self.by_rate.get(&rate) {
            return limiter.check_key(tenant_id).map_err(refusal);
        }
        let limiter = self
            .by_rate
            .entry(rate)
            .or_insert_with(|| RateLimiter::keyed(Self::quota(rate, self.host.burst)))
            .downgrade();
        limiter.check_key(tenant_id).map_err(refusal)
    }
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Throttle {
    pub fn new(config: &Config) -> Self {
        Self {
            tenants: config
                .tenant_rate_limit
                .filter(|l| l.per_second > 0)
                .map(|host| TenantLimits {
                    host,
                    default: RateLimiter::keyed(TenantLimits::quota(host.per_second, host.burst)),
                    by_rate: DashMap::new(),
                }),
            demo_requests: RateLimiter::keyed(Quota::per_hour(at_least_one(
                config.demo_requests_per_hour,
            ))),
        }
    }

    /// Takes one request from the tenant's bucket, at its plan's rate if lower.
    pub fn tenant(&self, tenant_id: &String, plan_rate: Option<i64>) -> Result<(), ApiError> {
        match &self.tenants {
            Some(limits) => limits.check(tenant_id, plan_rate),
            None => Ok(()),
        }
    }

    /// Takes one demo request from the client's bucket.
    pub fn demo_request(&self, client: IpAddr) -> Result<(), ApiError> {
        self.demo_requests.check_key(&client).map_err(refusal)
    }

    /// Forgets buckets that are full again, so the maps do not grow without bound.
    pub fn shrink(&self) {
        if let Some(limits) = &self.tenants {
            limits.default.retain_recent();
            for limiter in &limits.by_rate {
                limiter.retain_recent();
            }
        }
        self.demo_requests.retain_recent();
    }
}

fn refusal(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}
