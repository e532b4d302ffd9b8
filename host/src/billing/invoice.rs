//! What an invoice says: its lines, subtotal, tax and total, for a period of a plan
//! or for the pro-rated difference of a plan change. Pure arithmetic in integer
//! minor units; the store numbers and keeps invoices.

use serde::{Deserialize, Serialize};

use crate::store::plans::{Period, Plan};

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    /// Negative for a credit.
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// A period of the plan, paid in advance: paying it starts or extends the
    /// subscription's paid period.
    Period,
    /// The pro-rated difference of an upgrade within a paid period.
    PlanChange,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Period => "period",
            Self::PlanChange => "plan_change",
        }
    }
}

/// An invoice before it has a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub kind: InvoiceKind,
    pub plan: String,
    pub currency: String,
    pub period_start: i64,
    pub period_end: i64,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    pub tax_rate_bps: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub due_at: i64,
}

/// `start` plus one `period` (calendar months and years, in UTC), in ms.
pub fn period_end(start: i64, period: Period) -> i64 {
    let span = match period {
        Period::Month => jiff::Span::new().months(1),
        Period::Year => jiff::Span::new().years(1),
    };
    jiff::Timestamp::from_millisecond(start)
        .ok()
        .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).checked_add(span).ok())
        .map_or(i64::MAX, |z| z.timestamp().as_millisecond())
}

/// The start of the period that ends at `end`.
pub fn period_start(end: i64, period: Period) -> i64 {
    let span = match period {
        Period::Month => jiff::Span::new().months(-1),
        Period::Year => jiff::Span::new().years(-1),
    };
    jiff::Timestamp::from_millisecond(end)
        .ok()
        .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).checked_add(span).ok())
        .map_or(0, |z| z.timestamp().as_millisecond())
}

/// The UTC date of `ms`, `YYYY-MM-DD`, as invoices print it.
pub(crate) fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `amount × numerator / denominator`, rounded half away from zero.
fn share(amount: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    let (a, n, d) = (
        i128::from(amount),
        i128::from(numerator),
        i128::from(denominator),
    );
    let scaled = a * n * 2;
    let rounded = (scaled + scaled.signum() * d) / (2 * d);
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

impl NewInvoice {
    fn with_lines(
        kind: InvoiceKind,
        plan: &Plan,
        (period_start, period_end): (i64, i64),
        lines: Vec<InvoiceLine>,
        tax_rate_bps: i64,
        due_at: i64,
    ) -> Self {
        let subtotal_minor = lines.iter().map(|l| l.amount_minor).sum();
        let tax_minor = share(subtotal_minor, tax_rate_bps, 10_000);
        Self {
            kind,
            plan: plan.key.clone(),
            currency: plan.currency.clone(),
            period_start,
            period_end,
            lines,
            subtotal_minor,
            tax_rate_bps,
            tax_minor,
            total_minor: subtotal_minor + tax_minor,
            due_at,
        }
    }

    /// One period of `plan` from `start`, due at `due_at`.
    pub fn period(plan: &Plan, start: i64, tax_rate_bps: i64, due_at: i64) -> Self {
        let end = period_end(start, plan.period);
        let line = InvoiceLine {
            description: format!("{} plan, {} to {}", plan.name, day(start), day(end)),
            amount_minor: plan.price_minor,
        };
        Self::with_lines(
            InvoiceKind::Period,
            plan,
            (start, end),
            vec![line],
            tax_rate_bps,
            due_at,
        )
    }

    /// Moving from `old` to `new` at `now` within the paid period `[start, end)`:
    /// the unused part of `old` credited, the rest of the period on `new` charged.
    /// None when nothing is owed (a downgrade, plans of two currencies, or no time
    /// left): downgrades take effect at once and are not refunded.
    pub fn plan_change(
        old: &Plan,
        new: &Plan,
        (start, end): (i64, i64),
        now: i64,
        tax_rate_bps: i64,
        due_at: i64,
    ) -> Option<Self> {
        if old.currency != new.currency || now >= end || start >= end {
            return None;
        }
        let (left, length) = (end - now.max(start), end - start);
        let days = (left + 86_399_999) / 86_400_000;
        // Both prices per `length`: a yearly plan's price is spread over its year.
        let per_length = |plan: &Plan| {
            let own = period_end(start, plan.period) - start;
            share(plan.price_minor, length, own)
        };
        let lines = vec![
            InvoiceLine {
                description: format!("Unused time on the {} plan ({days} days)", old.name),
                amount_minor: -share(per_length(old), left, length),
            },
            InvoiceLine {
                description: format!(
                    "{} plan for the rest of the period ({days} days, to {})",
                    new.name,
                    day(end)
                ),
                amount_minor: share(per_length(new), left, length),
            },
        ];
        let invoice = Self::with_lines(
            InvoiceKind::PlanChange,
            new,
            (now.max(start), end),
            lines,
            tax_rate_bps,
            due_at,
        );
        (invoice.subtotal_minor > 0).then_some(invoice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::plans::Limits;

    fn plan(key: &str, price: i64, period: Period) -> Plan {
        Plan {
            key: key.into(),
            name: key.to_uppercase(),
            price_minor: price,
            currency: "USD".into(),
            period,
            modules: vec![],
            limits: Limits::default(),
            sort_order: 0,
            retired_at: None,
        }
    }

    const JAN_1: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    const DAY: i64 = 86_400_000;

    #[test]
    fn a_period_is_a_calendar_month_or_year() {
        assert_eq!(period_end(JAN_1, Period::Month), JAN_1 + 31 * DAY);
        assert_eq!(period_end(JAN_1, Period::Year), JAN_1 + 365 * DAY);
        assert_eq!(period_start(JAN_1 + 31 * DAY, Period::Month), JAN_1);
    }

    #[test]
    fn tax_is_rounded_half_away_from_zero() {
        let invoice = NewInvoice::period(&plan("starter", 2_905, Period::Month), JAN_1, 2_000, 0);
        assert_eq!(invoice.subtotal_minor, 2_905);
        assert_eq!(invoice.tax_minor, 581);
        assert_eq!(invoice.total_minor, 3_486);
        assert_eq!(share(5, 1, 2), 3);
        assert_eq!(share(-5, 1, 2), -3);
    }

    #[test]
    fn an_upgrade_halfway_charges_half_the_difference() {
        let (old, new) = (
            plan("starter", 3_000, Period::Month),
            plan("business", 9_000, Period::Month),
        );
        let end = period_end(JAN_1, Period::Month);
        let half = JAN_1 + (end - JAN_1) / 2;
        let invoice = NewInvoice::plan_change(&old, &new, (JAN_1, end), half, 0, half)
            .expect("an upgrade owes");
        assert_eq!(invoice.lines[0].amount_minor, -1_500);
        assert_eq!(invoice.lines[1].amount_minor, 4_500);
        assert_eq!(invoice.total_minor, 3_000);
        assert_eq!(invoice.kind, InvoiceKind::PlanChange);
    }

    #[test]
    fn downgrades_and_other_currencies_owe_nothing() {
        let (cheap, dear) = (
            plan("starter", 3_000, Period::Month),
            plan("business", 9_000, Period::Month),
        );
        let end = period_end(JAN_1, Period::Month);
        assert!(NewInvoice::plan_change(&dear, &cheap, (JAN_1, end), JAN_1 + DAY, 0, 0).is_none());
        let mut euro = dear.clone();
        euro.currency = "EUR".into();
        assert!(NewInvoice::plan_change(&cheap, &euro, (JAN_1, end), JAN_1 + DAY, 0, 0).is_none());
        assert!(NewInvoice::plan_change(&cheap, &dear, (JAN_1, end), end, 0, 0).is_none());
    }

    #[test]
    fn a_yearly_plan_is_spread_over_its_year() {
        let (monthly, yearly) = (
            plan("starter", 1_000, Period::Month),
            plan("annual", 36_500, Period::Year),
        );
        let end = period_end(JAN_1, Period::Month);
        // From a 31-day month at 10.00 to 365.00 a year, at the month's start.
        let invoice =
            NewInvoice::plan_change(&monthly, &yearly, (JAN_1, end), JAN_1, 0, 0).expect("owes");
        assert_eq!(invoice.lines[0].amount_minor, -1_000);
        assert_eq!(invoice.lines[1].amount_minor, 3_100);
    }
}
