//! How long a change takes to replicate: the seed's `[replication]` section and the emulator
//! binary's `--replication-delay` (docs/microsoft-behaviour.md §6.6). Apart from the queue
//! (`super`), so the seed can name it without the queue naming the seed back.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a change takes to replicate (the seed's `[replication]` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationSettings {
    /// Shortest delay in milliseconds; 0 with no `max_delay_ms`: visible at once (default).
    pub delay_ms: u64,
    /// Longest delay in milliseconds: each change draws its delay uniformly from
    /// `delay_ms..=max_delay_ms`. Absent (or not above `delay_ms`): every change waits `delay_ms`.
    pub max_delay_ms: Option<u64>,
}

impl ReplicationSettings {
    /// Every change waits `delay`.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            delay_ms: millis(delay),
            max_delay_ms: None,
        }
    }

    /// Each change waits a random delay between `shortest` and `longest`.
    pub fn range(shortest: Duration, longest: Duration) -> Self {
        Self {
            delay_ms: millis(shortest),
            max_delay_ms: Some(millis(longest)),
        }
    }

    /// The local demo's delays: 2 to 8 seconds, short enough to wait for, long enough to be
    /// seen (the real service's are usually seconds and sometimes minutes, §6.6).
    pub fn demo() -> Self {
        Self::range(Duration::from_secs(2), Duration::from_secs(8))
    }

    /// The longest delay a change can draw.
    pub fn longest(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms.unwrap_or(0).max(self.delay_ms))
    }

    /// A delay for one change, in milliseconds.
    pub fn draw_ms(&self) -> u64 {
        match self.max_delay_ms {
            Some(max) if max > self.delay_ms => {
                use rand::Rng as _;
                rand::rng().random_range(self.delay_ms..=max)
            }
            _ => self.delay_ms,
        }
    }

    /// Parse `SECS` or `MIN-MAX` (seconds, decimals allowed), as the emulator binary's
    /// `--replication-delay` takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let secs = |s: &str| {
            s.trim()
                .trim_end_matches('s')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{s:?} is not a number of seconds (0 to 86400)"))
        };
        match text.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (secs(a)?, secs(b)?);
                if b < a {
                    return Err(format!(
                        "{text}: the longest delay is shorter than the shortest"
                    ));
                }
                Ok(Self::range(a, b))
            }
            None => Ok(Self::fixed(secs(text)?)),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
