//! A client-side rate limiter for Partner Center's application-consent API.
//!
//! Partner Center allows 50 application-consent requests per second **per application ID**
//! ("Get customer consent as Control Panel Vendor", rate limits), so one limiter serves the whole
//! process, across every partner. Requests are spaced evenly (`1 s / rate`), which never puts
//! more than `rate` requests in any one-second window; when Partner Center still answers 429,
//! [`RateLimiter::hold`] stops every caller until its `Retry-After` has passed, instead of letting
//! the other workers run into the same wall.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Spaces calls at a fixed rate; shared by every worker.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter letting `per_second` calls through each second (at least 1).
    pub fn per_second(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(None),
        }
    }

    /// The time between two calls.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reserves the next free slot at or after `now` and returns it.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
    }

    /// No call starts before `now + wait` (a 429's `Retry-After`).
    pub fn hold(&self, now: Instant, wait: Duration) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let until = now + wait;
        *next = Some(next.map_or(until, |n| n.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_spaced_evenly_at_the_rate() {
        let limiter = RateLimiter::per_second(50);
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..100).map(|_| limiter.reserve(t0) - t0).collect();
        assert_eq!(slots[0], Duration::ZERO);
        assert_eq!(slots[1], Duration::from_millis(20));
        assert_eq!(slots[99], Duration::from_millis(1980));
        // Never more than 50 in any one-second window.
        for (i, s) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .take_while(|t| **t < *s + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 50,
                "{in_window} calls in the window from {s:?}"
            );
        }
    }

    #[test]
    fn an_idle_limiter_does_not_bank_slots() {
        let limiter = RateLimiter::per_second(10);
        let t0 = Instant::now();
        limiter.reserve(t0);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(limiter.reserve(later), later);
        assert_eq!(limiter.reserve(later), later + Duration::from_millis(100));
    }

    #[test]
    fn a_hold_delays_every_later_call() {
        let limiter = RateLimiter::per_second(50);
        let t0 = Instant::now();
        limiter.reserve(t0);
        limiter.hold(t0, Duration::from_secs(2));
        assert_eq!(limiter.reserve(t0), t0 + Duration::from_secs(2));
        // A shorter hold does not shorten a longer one.
        limiter.hold(t0, Duration::from_secs(1));
        assert_eq!(
            limiter.reserve(t0),
            t0 + Duration::from_secs(2) + Duration::from_millis(20)
        );
    }

    #[tokio::test]
    async fn acquire_waits_for_the_slot() {
        let limiter = RateLimiter::per_second(20);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(t0.elapsed() >= Duration::from_millis(100));
    }
}
