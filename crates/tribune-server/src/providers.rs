//! Provider vetting and tool description pins at run time: an in-memory view (every vetting,
//! every pin) read on every decision, refreshed before any change is answered and by the
//! poller, so the next decision on any replica sees it. A provider's current vetting merges
//! the view with the active bundle's declaration: the later of the two
//! ([`tribune_policy::vetting::current`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tribune_bundle::Bundle;
use tribune_policy::vetting::{Current, current};
use tribune_policy::{VettingFacts, VettingStatus};
use tribune_store::{Store, StoreError, ToolPinRecord, VettingRecord};

/// What this node knows of vettings and pins.
#[derive(Debug, Default)]
pub struct View {
    /// Each provider's vettings, oldest first: the last is current.
    pub vettings: HashMap<String, Vec<VettingRecord>>,
    /// Each tool's description record.
    pub pins: BTreeMap<String, ToolPinRecord>,
}

impl View {
    /// The latest vetting of `provider` recorded at run time, if it was ever vetted so.
    pub fn current(&self, provider: &str) -> Option<&VettingRecord> {
        self.vettings.get(provider).and_then(|h| h.last())
    }

    /// The current vetting of `provider` at `now_ms`: the later of `bundle`'s declaration and
    /// the latest run-time record.
    pub fn effective<'a>(&'a self, bundle: &'a Bundle, provider: &str, now_ms: i64) -> Current<'a> {
        let recorded = match self.current(provider) {
            None => Current::None,
            Some(v) => Current::Recorded {
                status: &v.status,
                vetted_at_ms: v.vetted_at_ms,
                expires_at_ms: v.expires_at_ms,
            },
        };
        let declared = bundle.providers.get(provider).and_then(|p| p.vetting.as_ref());
        current(declared, recorded, now_ms)
    }

    /// The status of `provider` at `now_ms`, of its current vetting ([`View::effective`]). A
    /// recorded status this version does not know counts as rejected: fail closed.
    pub fn status(&self, bundle: &Bundle, provider: &str, now_ms: i64) -> VettingStatus {
        self.effective(bundle, provider, now_ms).status(now_ms)
    }

    /// Whether `tool`'s description is quarantined.
    pub fn quarantined(&self, tool: &str) -> bool {
        self.pins.get(tool).is_some_and(|p| p.state == "quarantined")
    }
}

/// Vettings and pins, for the decision path.
pub struct Providers {
    view: ArcSwap<View>,
    refreshing: tokio::sync::Mutex<()>,
}

async fn read(store: &Store) -> Result<View, StoreError> {
    let mut view = View::default();
    for v in store.vettings().await? {
        view.vettings.entry(v.provider.clone()).or_default().push(v);
    }
    for p in store.tool_pins().await? {
        view.pins.insert(p.tool.clone(), p);
    }
    Ok(view)
}

impl Providers {
    /// What `store` holds.
    pub async fn load(store: &Store) -> Result<Providers, StoreError> {
        Ok(Providers {
            view: ArcSwap::from_pointee(read(store).await?),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// Reads `store` again. One refresh at a time, from its read to its swap, so a poll that
    /// read before a vetting or quarantine committed cannot install its older view after the
    /// change's own refresh.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.refreshing.lock().await;
        self.view.store(Arc::new(read(store).await?));
        Ok(())
    }

    /// The vetting stage's facts for a call to `tool` at `now_ms`.
    pub fn facts(&self, bundle: &Bundle, tool: &str, now_ms: i64) -> VettingFacts {
        let Some(t) = bundle.tools.get(tool) else {
            return VettingFacts::default();
        };
        let view = self.view.load();
        VettingFacts {
            provider: view.status(bundle, t.provider.as_str(), now_ms),
            tool_quarantined: view.quarantined(tool),
        }
    }
}
