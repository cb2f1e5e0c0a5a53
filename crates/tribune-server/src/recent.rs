//! The decisions this server recorded lately, as much of each as its outcome report needs.
//!
//! A governed call is decided, made, then reported (`POST /v1/decisions/{id}/outcome`, or the
//! gateway in process). The report needs the decision's principal, tool, session and
//! classification; reading them back from the store is a query on the call's path. A decision
//! recorded here is remembered until its outcome is recorded, or until
//! [`RecentDecisions::CAPACITY`] later decisions push it out; a report that finds nothing here
//! (an older decision, one another replica made, a report sent twice) reads the store as before.
//! Only durable decisions are remembered: an entry is added after its ledger append committed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What an outcome report needs of its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    /// `agent:ID` or `service:ID`.
    pub principal: String,
    /// The tool called.
    pub tool: String,
    /// `allow` or `hold` (a deny has no outcome and is not remembered).
    pub outcome: String,
    /// The agent's session, `None` if it named none.
    pub session: Option<String>,
    /// The data classification the decision involved.
    pub classification: Option<String>,
}

impl Recent {
    /// What an outcome report needs of the stored decision `record`.
    pub fn of(record: tribune_store::DecisionRecord) -> Recent {
        Recent {
            session: record.body["session"].as_str().map(str::to_owned),
            classification: record.body["classification"].as_str().map(str::to_owned),
            principal: record.principal,
            tool: record.tool,
            outcome: record.outcome,
        }
    }
}

/// Recently recorded decisions by id, oldest pushed out first.
#[derive(Debug, Default)]
pub struct RecentDecisions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Recent>,
    /// Ids in the order they were remembered; ids already forgotten are skipped on eviction.
    order: VecDeque<String>,
}

impl RecentDecisions {
    /// At most this many decisions are remembered.
    pub const CAPACITY: usize = 16_384;

    /// Remembers the durable decision `id`.
    pub fn remember(&self, id: &str, recent: Recent) {
        let mut inner = self.lock();
        while inner.by_id.len() >= Self::CAPACITY || inner.order.len() >= 2 * Self::CAPACITY {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(id.to_owned());
        inner.by_id.insert(id.to_owned(), recent);
    }

    /// Decision `id`, if it is remembered.
    pub fn get(&self, id: &str) -> Option<Recent> {
        self.lock().by_id.get(id).cloned()
    }

    /// Forgets decision `id` (its outcome is recorded).
    pub fn forget(&self, id: &str) {
        self.lock().by_id.remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is only read and written whole under the lock; a panic elsewhere cannot
        // leave it half-changed, so a poisoned lock is still sound.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent(tool: &str) -> Recent {
        Recent {
            principal: "agent:a".to_owned(),
            tool: tool.to_owned(),
            outcome: "allow".to_owned(),
            session: Some("s".to_owned()),
            classification: None,
        }
    }

    #[test]
    fn a_decision_is_kept_until_forgotten() {
        let recent_decisions = RecentDecisions::default();
        recent_decisions.remember("d1", recent("t"));
        assert_eq!(recent_decisions.get("d1"), Some(recent("t")));
        assert_eq!(recent_decisions.get("d1"), Some(recent("t")));
        recent_decisions.forget("d1");
        assert_eq!(recent_decisions.get("d1"), None);
        assert_eq!(recent_decisions.get("never"), None);
    }

    #[test]
    fn the_oldest_are_pushed_out_at_capacity() {
        let recent_decisions = RecentDecisions::default();
        for n in 0..RecentDecisions::CAPACITY + 10 {
            recent_decisions.remember(&format!("d{n}"), recent(&n.to_string()));
        }
        for n in 0..10 {
            assert_eq!(
                recent_decisions.get(&format!("d{n}")),
                None,
                "d{n} should be gone"
            );
        }
        let last = RecentDecisions::CAPACITY + 9;
        assert_eq!(
            recent_decisions.get(&format!("d{last}")).map(|r| r.tool),
            Some(last.to_string())
        );
        // Forgotten ids leave stale places in the order; memory stays bounded however many
        // are forgotten.
        for n in 0..4 * RecentDecisions::CAPACITY {
            let id = format!("x{n}");
            recent_decisions.remember(&id, recent("x"));
            assert!(recent_decisions.get(&id).is_some());
            recent_decisions.forget(&id);
        }
        assert!(recent_decisions.lock().order.len() <= 2 * RecentDecisions::CAPACITY);
    }
}
