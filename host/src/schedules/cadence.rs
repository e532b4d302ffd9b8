//! A module's schedules as the host runs them: checked at install, and asked when
//! each next fires.

use std::str::FromStr as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::runtime::types::{Cadence, ScheduleSpec};

/// The shortest interval a schedule may declare: every firing is a call per
/// enabled tenant.
pub const MIN_EVERY_SECS: u32 = 60;
/// The longest: a year and a day.
pub const MAX_EVERY_SECS: u32 = 366 * 86_400;

/// One schedule of a module's manifest, parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: String,
    when: When,
}

#[derive(Debug, Clone)]
enum When {
    Every {
        ms: i64,
    },
    Cron {
        expression: String,
        parsed: Box<jiff_cron::Schedule>,
    },
}

impl Schedule {
    /// Checks a manifest's schedule: its id, and an interval or cron expression the
    /// host can run.
    pub fn parse(spec: &ScheduleSpec) -> Result<Self, String> {
        let id = &spec.id;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "schedule id {id:?} must be 1 to 64 of a-z, 0-9 and -"
            ));
        }
        let when = match &spec.cadence {
            Cadence::Every(seconds) if !(MIN_EVERY_SECS..=MAX_EVERY_SECS).contains(seconds) => {
                return Err(format!(
                    "schedule {id} fires every {seconds} s; intervals go from {MIN_EVERY_SECS} s to {MAX_EVERY_SECS} s"
                ));
            }
            Cadence::Every(seconds) => When::Every {
                ms: i64::from(*seconds) * 1000,
            },
            Cadence::Cron(expression) => When::Cron {
                expression: expression.clone(),
                parsed: Box::new(
                    parse_cron(expression).map_err(|why| format!("schedule {id}: {why}"))?,
                ),
            },
        };
        Ok(Self {
            id: id.clone(),
            when,
        })
    }

    /// What a record's next time is planned by: the cadence, and for a cron the
    /// tenant's zone (named `zone`). When it changes the record is planned again.
    pub fn plan(&self, zone: &str) -> String {
        match &self.when {
            When::Every { ms } => format!("every {} s", ms / 1000),
            When::Cron { expression, .. } => format!("cron {expression} in {zone}"),
        }
    }

    /// The first firing for a tenant whose schedule starts at `now`.
    pub fn first(&self, now: i64, zone: &TimeZone) -> i64 {
        match &self.when {
            When::Every { ms } => now.saturating_add(*ms),
            When::Cron { parsed, .. } => next_cron(parsed, now, zone),
        }
    }

    /// The firing after the one due at `due`: the first later than `now`, so that
    /// periods missed while the host was down (or the module off) fire once, not
    /// once each.
    pub fn after(&self, due: i64, now: i64, zone: &TimeZone) -> i64 {
        match &self.when {
            When::Every { ms } => {
                let periods = (now - due).max(0) / ms + 1;
                due.saturating_add(periods.saturating_mul(*ms))
            }
            When::Cron { parsed, .. } => next_cron(parsed, now.max(due), zone),
        }
    }
}

/// A five-field expression (`minute hour day-of-month month day-of-week`). Days of
/// the week go by name: the crate underneath counts them from 1 = Sunday where
/// classic cron counts from 0, and a number would mean different days to different
/// readers.
fn parse_cron(expression: &str) -> Result<jiff_cron::Schedule, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [_, _, _, _, day_of_week] = fields[..] else {
        return Err(format!(
            "cron expression {expression:?} must have five fields: minute hour day-of-month month day-of-week"
        ));
    };
    if day_of_week.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!(
            "cron expression {expression:?}: name the days of the week (MON-FRI), do not number them"
        ));
    }
    // Seconds first, and always zero.
    let parsed = jiff_cron::Schedule::from_str(&format!("0 {}", fields.join(" ")))
        .map_err(|e| format!("cron expression {expression:?} is not valid: {e}"))?;
    if parsed.upcoming(TimeZone::UTC).next().is_none() {
        return Err(format!("cron expression {expression:?} never fires"));
    }
    Ok(parsed)
}

/// The first time after `after_ms` that `cron` matches in `zone`; far in the
/// future if it never does (`30 * 31 2 *`).
fn next_cron(cron: &jiff_cron::Schedule, after_ms: i64, zone: &TimeZone) -> i64 {
    let after = Timestamp::from_millisecond(after_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(zone.clone());
    cron.after(after)
        .next()
        .map_or(i64::MAX, |z| z.timestamp().as_millisecond())
}

/// The tenant's zone, by IANA name; UTC for a name the bundled database does not
/// know (a tenant's zone is checked when it is set).
pub fn zone(name: &str) -> TimeZone {
    crate::tenancy::zone(name).unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(seconds: u32) -> ScheduleSpec {
        ScheduleSpec {
            id: "tick".into(),
            cadence: Cadence::Every(seconds),
        }
    }

    fn cron(expression: &str) -> ScheduleSpec {
        ScheduleSpec {
            id: "nightly".into(),
            cadence: Cadence::Cron(expression.into()),
        }
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn intervals_keep_their_cadence_and_missed_periods_fire_once() {
        let s = Schedule::parse(&every(3600)).unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(s.first(1_000, &utc), 3_601_000);
        // On time: the next period.
        assert_eq!(s.after(3_601_000, 3_601_500, &utc), 7_201_000);
        // Three periods late: the one after now, on the same cadence.
        assert_eq!(
            s.after(3_601_000, 3_601_000 + 3 * 3_600_000 + 5, &utc),
            3_601_000 + 4 * 3_600_000
        );
        assert!(Schedule::parse(&every(59)).is_err());
    }

    #[test]
    fn cron_is_read_in_the_tenant_zone_across_daylight_saving() {
        let s = Schedule::parse(&cron("30 2 * * *")).unwrap();
        let paris = zone("Europe/Paris");
        // 02:30 in Paris is 01:30 UTC in winter...
        assert_eq!(
            s.first(ms("2026-01-10T12:00:00Z"), &paris),
            ms("2026-01-11T01:30:00Z")
        );
        // ...and 00:30 UTC in summer.
        assert_eq!(
            s.first(ms("2026-07-10T12:00:00Z"), &paris),
            ms("2026-07-11T00:30:00Z")
        );
        let weekdays = Schedule::parse(&cron("0 9 * * MON-FRI")).unwrap();
        // Saturday 2026-01-10 → Monday 09:00 UTC.
        assert_eq!(
            weekdays.first(ms("2026-01-10T10:00:00Z"), &TimeZone::UTC),
            ms("2026-01-12T09:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "* * * *",
            "0 9 * * 1-5",
            "61 * * * *",
            "0 0 * * * *",
            "0 0 30 2 *",
        ] {
            assert!(Schedule::parse(&cron(bad)).is_err(), "{bad:?}");
        }
        assert!(Schedule::parse(&every(MAX_EVERY_SECS + 1)).is_err());
        let mut spec = every(60);
        spec.id = "Not OK".into();
        assert!(Schedule::parse(&spec).is_err());
    }
}
