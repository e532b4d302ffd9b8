//! Rate limits: one token bucket per tenant for its authenticated traffic, so a
//! noisy tenant is refused with a 429 while the others go on at full speed; and
//! buckets per client address for what anyone may send without a token (logins,
//! password resets, sign-ups, demo requests, a tenant's public pages), so an
//! anonymous flood neither guesses passwords nor drains a tenant's quota.
//!
//! A tenant's rate is the host's, or its plan's `max_requests_per_second` where that
//! is lower; the burst is the host's either way. Tenants of one rate share a keyed
//! limiter, so there are as many limiters as distinct plan rates.

use std::net::IpAddr;
use std::num::NonZeroU32;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use std::sync::Arc;

use super::ApiError;
use crate::config::{Config, RateLimit};
use crate::metrics::Metrics;

/// Who an anonymous bucket belongs to: a scope (a tenant's id, or the platform)
/// and the client's address (none when it is not known, all such clients share).
type Visitor = (String, Option<IpAddr>);

pub struct Throttle {
    /// Refusals are counted by bucket.
    metrics: Arc<Metrics>,
    tenants: Option<TenantLimits>,
    /// Password attempts (logins, reset confirmations) per scope and client.
    sign_ins: DefaultKeyedRateLimiter<Visitor>,
    /// Reset mails asked for, per tenant and client.
    reset_requests: DefaultKeyedRateLimiter<Visitor>,
    /// Companies signed up, per client.
    sign_ups: DefaultKeyedRateLimiter<Option<IpAddr>>,
    demo_requests: DefaultKeyedRateLimiter<Option<IpAddr>>,
    /// A tenant's public configuration and assets, per tenant and client, at the
    /// host's tenant rate.
    visitors: Option<DefaultKeyedRateLimiter<Visitor>>,
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
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        let host_rate = config.tenant_rate_limit.filter(|l| l.per_second > 0);
        let anonymous = &config.anonymous_limits;
        Self {
            metrics,
            tenants: host_rate.map(|host| TenantLimits {
                host,
                default: RateLimiter::keyed(TenantLimits::quota(host.per_second, host.burst)),
                by_rate: DashMap::new(),
            }),
            sign_ins: RateLimiter::keyed(Quota::per_minute(at_least_one(
                anonymous.sign_ins_per_minute,
            ))),
            reset_requests: RateLimiter::keyed(Quota::per_hour(at_least_one(
                anonymous.reset_requests_per_hour,
            ))),
            sign_ups: RateLimiter::keyed(Quota::per_hour(at_least_one(
                anonymous.sign_ups_per_hour,
            ))),
            demo_requests: RateLimiter::keyed(Quota::per_hour(at_least_one(
                anonymous.demo_requests_per_hour,
            ))),
            visitors: host_rate
                .map(|host| RateLimiter::keyed(TenantLimits::quota(host.per_second, host.burst))),
        }
    }

    /// Takes one request from the tenant's bucket, at its plan's rate if lower.
    /// Only for authenticated callers: anyone else would drain it.
    pub fn tenant(&self, tenant_id: &String, plan_rate: Option<i64>) -> Result<(), ApiError> {
        match &self.tenants {
            Some(limits) => self.counted("tenant", limits.check(tenant_id, plan_rate)),
            None => Ok(()),
        }
    }

    /// Takes one password attempt for `scope` (a tenant's id, or `platform`) from
    /// the client's bucket.
    pub fn sign_in(&self, scope: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        let checked = self.sign_ins.check_key(&(scope.to_owned(), client));
        self.counted("sign_in", checked.map_err(refusal))
    }

    /// Takes one reset mail for the tenant from the client's bucket.
    pub fn reset_request(&self, tenant_id: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        let checked = self
            .reset_requests
            .check_key(&(tenant_id.to_owned(), client));
        self.counted("reset_request", checked.map_err(refusal))
    }

    /// Takes one sign-up from the client's bucket.
    pub fn sign_up(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let checked = self.sign_ups.check_key(&client);
        self.counted("sign_up", checked.map_err(refusal))
    }

    /// Takes one demo request from the client's bucket.
    pub fn demo_request(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let checked = self.demo_requests.check_key(&client);
        self.counted("demo_request", checked.map_err(refusal))
    }

    /// Takes one public page of the tenant from the client's bucket.
    pub fn visitor(&self, tenant_id: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        match &self.visitors {
            Some(limiter) => {
                let checked = limiter.check_key(&(tenant_id.to_owned(), client));
                self.counted("visitor", checked.map_err(refusal))
            }
            None => Ok(()),
        }
    }

    fn counted(&self, bucket: &'static str, checked: Result<(), ApiError>) -> Result<(), ApiError> {
        if checked.is_err() {
            self.metrics.rate_limited(bucket);
        }
        checked
    }

    /// Forgets buckets that are full again, so the maps do not grow without bound.
    pub fn shrink(&self) {
        if let Some(limits) = &self.tenants {
            limits.default.retain_recent();
            for limiter in &limits.by_rate {
                limiter.retain_recent();
            }
        }
        self.sign_ins.retain_recent();
        self.reset_requests.retain_recent();
        self.sign_ups.retain_recent();
        self.demo_requests.retain_recent();
        if let Some(visitors) = &self.visitors {
            visitors.retain_recent();
        }
    }
}

fn refusal(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}
