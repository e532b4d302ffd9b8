//! Time, calendar dates and time zones, from [`jiff`] with its bundled time-zone
//! database (a module has no system one): a shift that crosses midnight or a day
//! judged in the tenant's zone stays right across daylight-saving changes.

use std::time::{SystemTime, UNIX_EPOCH};

pub use jiff::civil::{Date, DateTime, ISOWeekDate, Time, Weekday};
pub use jiff::tz::TimeZone;
pub use jiff::{Span, Timestamp, ToSpan, Zoned};

use crate::{Error, Request, Result, tenant};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The current tenant's time zone (UTC if the host gave a name this database does
/// not know).
pub fn tenant_zone() -> TimeZone {
    zone(&tenant::current().timezone)
}

/// The zone named `name` (an IANA name such as `Europe/Paris`), UTC if unknown.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// The date in `zone` at `ms` milliseconds since the epoch.
pub fn date_at(ms: u64, zone: &TimeZone) -> Date {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::MAX)
        .to_zoned(zone.clone())
        .date()
}

/// Parses exactly `YYYY-MM-DD`, refusing impossible dates such as `2025-02-30` (and
/// the other forms ISO 8601 allows, so that stored dates have one shape).
pub fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    text.parse().ok()
}

/// Whole days `from` to `to` (inclusive) in the tenant's zone: the period a report
/// route is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    /// `?from=&to=` (dates), or `?month=YYYY-MM`; the tenant's current month without
    /// either. A 422 for a malformed or backward period, or one over `max_days`.
    pub fn from_request(req: &Request, max_days: i32) -> Result<Self> {
        let (from, to) = match (req.query("month"), req.query("from"), req.query("to")) {
            (Some(month), None, None) => {
                let first = parse_date(&format!("{month}-01"))
                    .ok_or_else(|| Error::invalid_field("month", "must be a month as YYYY-MM"))?;
                (first, first.last_of_month())
            }
            (None, Some(from), Some(to)) => (query_date("from", from)?, query_date("to", to)?),
            (None, None, None) => {
                let today = date_at(now_ms(), &tenant_zone());
                (today.first_of_month(), today.last_of_month())
            }
            _ => {
                return Err(Error::invalid_field(
                    "from",
                    "give from and to, or month, or neither",
                ));
            }
        };
        if to < from {
            return Err(Error::invalid_field("to", "must not be before from"));
        }
        if from
            .until(to)
            .map_or(true, |span| span.get_days() >= max_days)
        {
            return Err(Error::invalid_field(
                "to",
                &format!("a period covers at most {max_days} days"),
            ));
        }
        Ok(Self { from, to })
    }

    /// The first and the last millisecond past the period, in the tenant's zone:
    /// `[start, end)`.
    pub fn millis(&self) -> (u64, u64) {
        let zone = tenant_zone();
        let midnight = |date: Date| {
            date.to_zoned(zone.clone()).map_or(0, |z| {
                u64::try_from(z.timestamp().as_millisecond()).unwrap_or(0)
            })
        };
        let after = self.to.tomorrow().unwrap_or(self.to);
        (midnight(self.from), midnight(after))
    }

    /// `from=YYYY-MM-DD&to=YYYY-MM-DD`, to pass the period on to another module.
    pub fn to_query(&self) -> String {
        format!("from={}&to={}", self.from, self.to)
    }
}

/// `{"average": h, "median": h, "count": n}` of `durations` (milliseconds) in hours,
/// rounded to a hundredth; null figures for none.
pub fn hours_summary(durations: &mut [u64]) -> serde_json::Value {
    durations.sort_unstable();
    let hours = |ms: f64| (ms / 36_000.0).round() / 100.0;
    let count = durations.len();
    let average = (count > 0).then(|| hours(durations.iter().sum::<u64>() as f64 / count as f64));
    let median = match count {
        0 => None,
        n if n % 2 == 1 => Some(hours(durations[n / 2] as f64)),
        n => Some(hours(
            (durations[n / 2 - 1] + durations[n / 2]) as f64 / 2.0,
        )),
    };
    serde_json::json!({"count": count, "average": average, "median": median})
}

/// The date in the query parameter `field`, or a 422 on it.
pub fn query_date(field: &str, text: &str) -> Result<Date> {
    parse_date(text).ok_or_else(|| Error::invalid_field(field, "must be a date as YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_dates_only() {
        assert_eq!(
            parse_date("2024-02-29").map(|d| d.to_string()).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-1-01",
            "abcd-01-01",
            "20240115",
            "+02024-01-15",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_judged_in_a_zone() {
        // 2025-11-24 23:30 UTC is already the 25th in Paris, still the 24th in New York.
        let ms = 1_764_027_000_000;
        assert_eq!(date_at(ms, &TimeZone::UTC).to_string(), "2025-11-24");
        assert_eq!(date_at(ms, &zone("Europe/Paris")).to_string(), "2025-11-25");
        assert_eq!(
            date_at(ms, &zone("America/New_York")).to_string(),
            "2025-11-24"
        );
        assert_eq!(zone("Not/AZone"), TimeZone::UTC);
    }
}
