//! Time, calendar dates and time zones, from [`jiff`] with its bundled time-zone
//! database (a module has no system one): a shift that crosses midnight or a day
//! judged in the tenant's zone stays right across daylight-saving changes.

use std::time::{SystemTime, UNIX_EPOCH};

pub use jiff::civil::{Date, DateTime, ISOWeekDate, Time, Weekday};
pub use jiff::tz::TimeZone;
pub use jiff::{Span, Timestamp, ToSpan, Zoned};

use crate::tenant;

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
