//! Provider vetting and tool description pins at run time: an in-memory view (every vetting,
//! every pin) read on every decision, refreshed before any change is answered and by the
//! poller, so the next decision on any replica sees it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tribune_bundle::Bundle;
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
    /// The current vetting of `provider`, if it was ever vetted.
    pub fn current(&self, provider: &str) -> Option<&VettingRecord> {
        self.vettings.get(provider).and_then(|h| h.last())
    }

    /// The status of `provider` at `now_ms`. A status this version does not know counts as
    /// rejected: fail closed.
    pub fn status(&self, provider: &str, now_ms: i64) -> VettingStatus {
        match self.current(provider) {
            None => VettingStatus::Unvetted,
            Some(v) => VettingStatus::of_record(&v.status, v.expires_at_ms, now_ms)
                .unwrap_or(VettingStatus::Rejected),
        }
    }

    /// Whether `tool`'s description is quarantined.
    pub fn quarantined(&self, tool: &str) -> bool {
        self.pins.get(tool).is_some_and(|p| p.state == "quarantined")
    }
}

/// Vettings and pins, for the decision path.
pub struct Providers {
    view: ArcSwap<View>,
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
        })
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// Reads `store` again.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
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
            provider: view.status(t.provider.as_str(), now_ms),
            tool_quarantined: view.quarantined(tool),
        }
    }
}
