//! The clock of time-driven work (schedules, subscription renewals): the system's,
//! or one a test moves by hand so that a day of it takes no time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// A manual clock's moves since [`Clock::moves`] was called.
#[derive(Debug)]
pub struct ClockMoves(Option<watch::Receiver<i64>>);

impl ClockMoves {
    /// Waits for the next move, or returns at once if one came since the last call
    /// (or since the watch began); never returns for the system clock.
    pub async fn moved(&mut self) {
        match &mut self.0 {
            // The sender lives as long as the clock, so this waits, never fails.
            Some(changes) => {
                let _ = changes.changed().await;
            }
            None => std::future::pending().await,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    /// Stands still until advanced.
    Manual(Arc<watch::Sender<i64>>),
}

impl Clock {
    /// A clock that reads `start_ms` until advanced.
    pub fn manual(start_ms: i64) -> Self {
        Self::Manual(Arc::new(watch::Sender::new(start_ms)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => crate::store::now_ms(),
            Self::Manual(now) => *now.borrow(),
        }
    }

    /// Moves a manual clock on by `by`, waking whoever waits for that time. The
    /// system clock cannot be moved: false.
    pub fn advance(&self, by: Duration) -> bool {
        match self {
            Self::System => false,
            Self::Manual(now) => {
                let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
                now.send_modify(|now| *now = now.saturating_add(by));
                true
            }
        }
    }

    /// The moves of a manual clock from now on (the system clock is never moved).
    pub fn moves(&self) -> ClockMoves {
        ClockMoves(match self {
            Self::System => None,
            Self::Manual(now) => Some(now.subscribe()),
        })
    }

    /// Waits until the clock reads `at_ms` or later.
    pub async fn sleep_until(&self, at_ms: i64) {
        match self {
            Self::System => {
                let wait = u64::try_from(at_ms.saturating_sub(self.now_ms())).unwrap_or(0);
                // Far-off times are looked at again later anyway.
                tokio::time::sleep(Duration::from_millis(wait).min(Duration::from_secs(86_400)))
                    .await;
            }
            Self::Manual(now) => {
                let mut changes = now.subscribe();
                // The sender lives as long as this clock, so this waits, never fails.
                let _ = changes.wait_for(|now| *now >= at_ms).await;
            }
        }
    }
}
