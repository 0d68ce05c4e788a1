//! When repeated failures lock an account: 5 failed logins within 15 minutes
//! lock it for 15 minutes. Pure: the caller hands in the clock and stores the
//! state (in the database, so every instance agrees).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            lock_for: Duration::from_secs(15 * 60),
        }
    }
}

/// Failure bookkeeping of one account; times are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockoutState {
    pub failures: u32,
    pub window_start: Option<i64>,
    pub locked_until: Option<i64>,
}

impl LockoutPolicy {
    /// Seconds left on a lock, if the account is locked at `now`.
    pub fn locked(&self, state: &LockoutState, now: i64) -> Option<i64> {
        state.locked_until.filter(|&t| t > now).map(|t| t - now)
    }

    /// The state after one more failure at `now`.
    pub fn record_failure(&self, state: &LockoutState, now: i64) -> LockoutState {
        let window = self.window.as_secs() as i64;
        let (failures, start) = match state.window_start {
            Some(start) if now - start < window => (state.failures + 1, start),
            _ => (1, now),
        };
        if failures >= self.max_failures {
            // The lock starts a fresh count for after it ends.
            LockoutState {
                failures: 0,
                window_start: None,
                locked_until: Some(now + self.lock_for.as_secs() as i64),
            }
        } else {
            LockoutState {
                failures,
                window_start: Some(start),
                locked_until: state.locked_until.filter(|&t| t > now),
            }
        }
    }
}

/// When a source address is blocked: failed authentications from one
/// address, whichever accounts they aimed at, beyond `max_failures` within
/// `window` block every login from it for `block_for`. Larger than one
/// account's lockout, so that a household or an office behind one address
/// is not blocked by one forgetful user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub block_for: Duration,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::from_secs(15 * 60),
            block_for: Duration::from_secs(60 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_the_window_lock_for_fifteen_minutes() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        for i in 0..4 {
            s = p.record_failure(&s, 1_000 + i * 60);
            assert_eq!(
                p.locked(&s, 1_000 + i * 60),
                None,
                "after {} failures",
                i + 1
            );
        }
        s = p.record_failure(&s, 1_300);
        assert_eq!(p.locked(&s, 1_300), Some(900));
        assert_eq!(p.locked(&s, 1_300 + 899), Some(1));
        assert_eq!(p.locked(&s, 1_300 + 900), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        for i in 0..10 {
            s = p.record_failure(&s, i * 300);
            assert_eq!(p.locked(&s, i * 300), None, "failure {i}");
        }
    }
}
