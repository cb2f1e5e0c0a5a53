//! Per-principal call counting for class quotas (calls per minute).
//!
//! Counts are kept in memory on each node: with several replicas, each enforces the quota on
//! the calls it sees. Only principals whose class has a quota are tracked, and each keeps at
//! most `limit` timestamps, so memory is bounded by the bundle.

use std::collections::VecDeque;

use dashmap::DashMap;

const WINDOW_MS: i64 = 60_000;

/// Sliding one-minute windows of call times, per principal.
#[derive(Default)]
pub struct QuotaWindows {
    windows: DashMap<String, VecDeque<i64>>,
}

impl QuotaWindows {
    /// Counts the calls of `principal` in the minute before `now_ms`, recording nothing.
    pub fn count(&self, principal: &str, now_ms: i64) -> u32 {
        self.windows.get(principal).map_or(0, |w| {
            u32::try_from(w.iter().filter(|t| **t > now_ms - WINDOW_MS).count()).unwrap_or(u32::MAX)
        })
    }

    /// Counts the calls of `principal` in the minute before `now_ms`, then records this one.
    /// Returns the count before this call.
    pub fn count_and_record(&self, principal: &str, limit: u32, now_ms: i64) -> u32 {
        let mut window = self.windows.entry(principal.to_owned()).or_default();
        while window.front().is_some_and(|t| *t <= now_ms - WINDOW_MS) {
            window.pop_front();
        }
        let count = u32::try_from(window.len()).unwrap_or(u32::MAX);
        // Keeping `limit` entries is enough to know the count reached the limit.
        if window.len() >= limit as usize {
            window.pop_front();
        }
        if limit > 0 {
            window.push_back(now_ms);
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_slide_with_the_window_and_stay_bounded() {
        let q = QuotaWindows::default();
        assert_eq!(q.count_and_record("a", 2, 0), 0);
        assert_eq!(q.count_and_record("a", 2, 10), 1);
        assert_eq!(q.count_and_record("a", 2, 20), 2);
        assert_eq!(q.count_and_record("a", 2, 30), 2);
        assert_eq!(q.count_and_record("b", 2, 30), 0);
        // A minute after the last two calls, the window is empty again.
        assert_eq!(q.count_and_record("a", 2, 60_031), 0);
    }
}
