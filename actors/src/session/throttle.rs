//! Failed-login throttling per (account, client address). Lives in the session worker
//! that owns the account's key, so every attempt for one email meets the same counter.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    /// Failures older than this are forgotten; also how long a lockout lasts.
    pub window: Duration,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    first_at: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: HashMap<(String, String), Failures>,
}

/// Bounds the memory an attacker can make us spend by spraying addresses.
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Some(seconds)` while this pair is locked out.
    pub fn retry_after(&mut self, email: &str, client: &str) -> Option<u64> {
        let now = Instant::now();
        let key = (email.to_string(), client.to_string());
        let entry = self.entries.get(&key)?;
        match entry.locked_until {
            Some(until) if until > now => Some((until - now).as_secs().max(1)),
            Some(_) => {
                self.entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Forgets failures whose window passed and lockouts that ended.
    pub fn prune(&mut self) {
        let now = Instant::now();
        let window = self.policy.window;
        self.entries
            .retain(|_, f| now.duration_since(f.first_at) < window || f.locked_until.is_some_and(|u| u > now));
    }

    pub fn record_failure(&mut self, email: &str, client: &str) {
        let now = Instant::now();
        if self.entries.len() >= MAX_TRACKED {
            self.prune();
        }
        let entry = self
            .entries
            .entry((email.to_string(), client.to_string()))
            .or_insert(Failures {
                count: 0,
                first_at: now,
                locked_until: None,
            });
        if now.duration_since(entry.first_at) >= self.policy.window {
            entry.count = 0;
            entry.first_at = now;
        }
        entry.count += 1;
        if entry.count >= self.policy.max_failures {
            entry.locked_until = Some(now + self.policy.window);
        }
    }

    pub fn record_success(&mut self, email: &str, client: &str) {
        self.entries.remove(&(email.to_string(), client.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_for_that_pair_only() {
        let mut throttle = LoginThrottle::new(ThrottlePolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        for _ in 0..2 {
            throttle.record_failure("a@x.io", "1.1.1.1");
            assert_eq!(throttle.retry_after("a@x.io", "1.1.1.1"), None);
        }
        throttle.record_failure("a@x.io", "1.1.1.1");
        let wait = throttle.retry_after("a@x.io", "1.1.1.1").unwrap();
        assert!((1..=60).contains(&wait));
        assert_eq!(throttle.retry_after("a@x.io", "2.2.2.2"), None);
        assert_eq!(throttle.retry_after("b@x.io", "1.1.1.1"), None);
    }

    #[test]
    fn success_clears() {
        let mut throttle = LoginThrottle::new(ThrottlePolicy {
            max_failures: 2,
            window: Duration::from_secs(60),
        });
        throttle.record_failure("a@x.io", "ip");
        throttle.record_success("a@x.io", "ip");
        throttle.record_failure("a@x.io", "ip");
        assert_eq!(throttle.retry_after("a@x.io", "ip"), None);
    }
}
