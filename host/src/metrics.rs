//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format: requests
//! by route, status and tenant plan; module calls and waits for an instance; limits
//! hit and rate-limit refusals by kind; slots and queues, read when scraped.
//!
//! Labels are bounded: routes are the router's patterns (never raw paths), modules
//! are installed keys, plans the catalog's. Tenants are not a label: 10,000 of them
//! would be 10,000 series per metric.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
    /// The tenant's plan; `none` for requests that name no tenant.
    plan: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    module: String,
    /// `ok`, or the limit or failure that ended the call.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabels {
    module: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// From 0.1 ms to about 6.5 s: module calls take microseconds, deadlines seconds.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// What the gauges read at scrape time show.
pub struct ScrapeGauges {
    pub slots: usize,
    pub tenant_files_open: usize,
    pub mail_queued: i64,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    module_call_seconds: Histograms<CallLabels>,
    instance_wait_seconds: Histograms<ModuleLabels>,
    limits_hit: Family<KindLabels, Counter>,
    rate_limited: Family<KindLabels, Counter>,
    slots: Gauge,
    tenant_files_open: Gauge,
    document_reads: Family<KindLabels, Counter>,
    tenant_sweeps: Counter,
    event_tenants_waiting: Gauge,
    mail_queued: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("mosaic"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_buckets),
            module_call_seconds: Family::new_with_constructor(latency_buckets),
            instance_wait_seconds: Family::new_with_constructor(latency_buckets),
            limits_hit: Family::default(),
            rate_limited: Family::default(),
            slots: Gauge::default(),
            tenant_files_open: Gauge::default(),
            document_reads: Family::default(),
            tenant_sweeps: Counter::default(),
            event_tenants_waiting: Gauge::default(),
            mail_queued: Gauge::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method, status and tenant plan",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "module_call_duration_seconds",
            "Time a module call ran on its instance, by module and outcome",
            metrics.module_call_seconds.clone(),
        );
        registry.register(
            "instance_wait_duration_seconds",
            "Time a call waited for a free instance of its (tenant, module) slot",
            metrics.instance_wait_seconds.clone(),
        );
        registry.register(
            "limits_hit",
            "Module calls cut short by a limit: deadline, memory, response_size, busy",
            metrics.limits_hit.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with a 429, by bucket",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "slots",
            "Live (tenant, module) slots on this replica",
            metrics.slots.clone(),
        );
        registry.register(
            "tenant_files_open",
            "Tenants' module-data files open on this replica (SQLite): closed when \
             idle, and least recently used first past the descriptor budget",
            metrics.tenant_files_open.clone(),
        );
        registry.register(
            "document_reads",
            "Document reads (get, query) of modules by how they ran: in_place (SQLite, \
             on the calling thread), over_budget (begun in place, finished through the \
             pool), pool",
            metrics.document_reads.clone(),
        );
        registry.register(
            "tenant_sweeps",
            "Reads of every tenant's generation by this replica (a safety net while \
             LISTEN is healthy, the way changes arrive without it)",
            metrics.tenant_sweeps.clone(),
        );
        registry.register(
            "event_tenants_waiting",
            "Tenants whose events this replica knows to be waiting for delivery",
            metrics.event_tenants_waiting.clone(),
        );
        registry.register(
            "mail_queued",
            "Mails in the outbox not sent yet",
            metrics.mail_queued.clone(),
        );
        metrics
    }
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, plan: &str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
                plan: plan.to_owned(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn module_call(&self, module: &str, outcome: &'static str, took: Duration) {
        self.module_call_seconds
            .get_or_create(&CallLabels {
                module: module.to_owned(),
                outcome,
            })
            .observe(took.as_secs_f64());
    }

    pub fn instance_wait(&self, module: &str, waited: Duration) {
        self.instance_wait_seconds
            .get_or_create(&ModuleLabels {
                module: module.to_owned(),
            })
            .observe(waited.as_secs_f64());
    }

    pub fn limit_hit(&self, kind: &'static str) {
        self.limits_hit.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn rate_limited(&self, bucket: &'static str) {
        self.rate_limited
            .get_or_create(&KindLabels { kind: bucket })
            .inc();
    }

    pub fn document_read(&self, way: &'static str) {
        self.document_reads
            .get_or_create(&KindLabels { kind: way })
            .inc();
    }

    pub fn tenant_swept(&self) {
        self.tenant_sweeps.inc();
    }

    pub fn set_event_tenants_waiting(&self, tenants: usize) {
        self.event_tenants_waiting
            .set(i64::try_from(tenants).unwrap_or(i64::MAX));
    }

    /// The exposition, with the gauges read at scrape time set first.
    pub fn render(&self, gauges: ScrapeGauges) -> String {
        self.slots
            .set(i64::try_from(gauges.slots).unwrap_or(i64::MAX));
        self.tenant_files_open
            .set(i64::try_from(gauges.tenant_files_open).unwrap_or(i64::MAX));
        self.mail_queued.set(gauges.mail_queued);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
