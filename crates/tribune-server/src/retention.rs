//! The retention job: deletes ledger payloads whose schedule has run out, keeping their leaf
//! hashes so the log still verifies, and never inside an active legal hold.
//!
//! Each event's schedule is the bundle's most specific rule for its event class and data
//! classification (`Bundle::retention_for`); events no rule covers are kept forever. A run that
//! prunes anything is itself a ledger entry naming what it pruned.

use serde_json::{Value, json};
use tribune_bundle::EventClass;
use tribune_store::{SideRecord, StoreError};

use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;
const PAGE: u32 = 5_000;

/// Runs the schedule as of `now_ms`; returns what was pruned, per event class.
pub async fn run(state: &AppState, now_ms: i64) -> Result<Value, StoreError> {
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let mut report = serde_json::Map::new();
    let mut pruned_all: Vec<u64> = Vec::new();
    for event in EventClass::ALL {
        let Some(shortest) = bundle
            .retention
            .iter()
            .filter(|r| r.event == event)
            .map(|r| r.keep_days)
            .min()
        else {
            continue;
        };
        let cutoff = now_ms - i64::from(shortest) * DAY_MS;
        let mut from = 0u64;
        let mut pruned = Vec::new();
        loop {
            let page = state
                .store
                .retention_candidates(event.as_str(), cutoff, from, PAGE)
                .await?;
            let Some(last) = page.last().map(|c| c.0) else {
                break;
            };
            let expired: Vec<u64> = page
                .iter()
                .filter(|(_, classification, created)| {
                    bundle
                        .retention_for(event, classification.as_deref())
                        .is_some_and(|rule| *created < now_ms - i64::from(rule.keep_days) * DAY_MS)
                })
                .map(|c| c.0)
                .collect();
            pruned.extend(state.store.prune_entries(&expired, now_ms).await?);
            from = last + 1;
        }
        if !pruned.is_empty() {
            report.insert(
                event.as_str().to_owned(),
                json!({ "pruned": pruned.len(), "ranges": ranges(&pruned) }),
            );
            pruned_all.extend(pruned);
        }
    }
    let report = Value::Object(report);
    if !pruned_all.is_empty() {
        let uid = format!("retention/{now_ms}");
        let value = crate::ocsf::event("retention_run", 4, &uid, "tribune", None, report.clone(), now_ms);
        state
            .ledger
            .record_event("retention", value, now_ms, SideRecord::None)
            .await?;
        tracing::info!(pruned = pruned_all.len(), "retention run pruned ledger payloads");
    }
    Ok(report)
}

/// Sorted indices as `[first, last]` runs.
fn ranges(indices: &[u64]) -> Vec<[u64; 2]> {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<[u64; 2]> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some(r) if r[1] + 1 == i => r[1] = i,
            _ => out.push([i, i]),
        }
    }
    out
}

/// Runs the schedule hourly until aborted.
pub fn spawn(state: std::sync::Weak<AppState>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { return };
            if let Err(e) = run(&state, crate::state::now_ms()).await {
                tracing::error!(error = %e, "retention run failed");
            }
        }
    })
    .abort_handle()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_merge_runs() {
        assert_eq!(super::ranges(&[5, 1, 2, 3, 9]), vec![[1, 3], [5, 5], [9, 9]]);
    }
}
