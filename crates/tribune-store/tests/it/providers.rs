//! Provider vettings and tool pins: history kept in order, an observed description that
//! vetting pins, a quarantine recorded once per differing hash, and a pin that lifts it. Each
//! change is committed with a ledger entry, as the server commits it.

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{
    Appended, EntryMeta, LedgerAppend, SideRecord, Store, ToolPinRecord, VettingRecord, Write, Writes,
};

use crate::TestResult;

/// Commits `writes` with an entry of their own; whether it was appended (a guard may find its
/// row moved on).
async fn commit(store: &Store, writes: Writes) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let append = LedgerAppend {
        entry: Entry::from_json(&json!({ "event": "provider" }))?,
        meta: EntryMeta {
            event_class: "provider".to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: 1,
        },
        side: SideRecord::Writes(writes),
    };
    match store.append_ledger(&[append]).await?.as_slice() {
        [Appended::Entry { .. }] => Ok(true),
        [Appended::Stale] => Ok(false),
        other => Err(format!("unexpected append: {other:?}").into()),
    }
}

/// A vetting and the pins it makes, as `POST /v1/providers/{id}/vet` commits them.
fn vet(v: &VettingRecord, pins: &[ToolPinRecord]) -> Writes {
    let mut writes = vec![v.insert_write()];
    writes.extend(pins.iter().map(ToolPinRecord::upsert_write));
    Writes::of(writes)
}

/// A quarantine, guarded as a report commits it.
fn quarantine(tool: &str, observed: &str, description: &str) -> Writes {
    Writes::guarded(
        ToolPinRecord::quarantine_write(tool, observed, description),
        1,
        Vec::<Write>::new(),
    )
}

on_both_backends!(vettings_keep_history, pins_quarantine_and_repin);

fn vetting(provider: &str, status: &str, at: i64) -> VettingRecord {
    VettingRecord {
        seq: 0,
        provider: provider.to_owned(),
        status: status.to_owned(),
        reviewer: "human:alice".to_owned(),
        vetted_at_ms: at,
        expires_at_ms: at + 1000,
        notes: String::new(),
    }
}

fn pin(tool: &str, hash: &str, state: &str) -> ToolPinRecord {
    ToolPinRecord {
        tool: tool.to_owned(),
        provider: "helpdesk".to_owned(),
        hash: hash.to_owned(),
        description: format!("{{\"name\":\"{tool}\"}}"),
        pinned_at_ms: 1,
        pinned_by: "human:alice".to_owned(),
        state: state.to_owned(),
        observed_hash: None,
        observed_description: None,
    }
}

async fn vettings_keep_history(db: &TestStore) -> TestResult {
    let store = &db.store;
    for v in [
        vetting("helpdesk", "approved", 1),
        vetting("payments", "rejected", 2),
        vetting("helpdesk", "probation", 3),
    ] {
        assert!(commit(store, vet(&v, &[])).await?);
    }
    let all = store.vettings().await?;
    assert!(all[0].seq < all[1].seq && all[1].seq < all[2].seq);
    let seen: Vec<(&str, &str)> = all
        .iter()
        .map(|v| (v.provider.as_str(), v.status.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("helpdesk", "approved"),
            ("payments", "rejected"),
            ("helpdesk", "probation")
        ]
    );
    // A status the schema does not know is refused, and its entry with it.
    let size = store.ledger_head().await?.size();
    assert!(
        commit(store, vet(&vetting("helpdesk", "maybe", 4), &[]))
            .await
            .is_err()
    );
    assert_eq!(store.ledger_head().await?.size(), size);
    assert_eq!(store.vettings().await?.len(), 3);
    Ok(())
}

async fn pins_quarantine_and_repin(db: &TestStore) -> TestResult {
    let store = &db.store;
    // Reported before vetting: observed, replaced by a later report.
    store.observe_tool(&pin("search", "h0", "observed")).await?;
    store.observe_tool(&pin("search", "h1", "observed")).await?;
    assert_eq!(store.tool_pins().await?, [pin("search", "h1", "observed")]);
    // Vetting pins it; a report no longer touches a pinned row.
    assert!(
        commit(
            store,
            vet(
                &vetting("helpdesk", "approved", 1),
                &[pin("search", "h1", "pinned")]
            )
        )
        .await?
    );
    store.observe_tool(&pin("search", "h9", "observed")).await?;
    assert_eq!(store.tool_pins().await?, [pin("search", "h1", "pinned")]);
    // The pinned hash again quarantines nothing; a different one once; a third again.
    // A quarantine that changes nothing appends nothing.
    assert!(!commit(store, quarantine("search", "h1", "{}")).await?);
    assert!(commit(store, quarantine("search", "h2", "{\"d\":2}")).await?);
    assert!(!commit(store, quarantine("search", "h2", "{\"d\":2}")).await?);
    assert!(commit(store, quarantine("search", "h3", "{\"d\":3}")).await?);
    assert!(!commit(store, quarantine("unpinned", "h2", "{}")).await?);
    let quarantined = &store.tool_pins().await?[0];
    assert_eq!(
        (quarantined.state.as_str(), quarantined.hash.as_str()),
        ("quarantined", "h1")
    );
    assert_eq!(quarantined.observed_hash.as_deref(), Some("h3"));
    assert_eq!(quarantined.observed_description.as_deref(), Some("{\"d\":3}"));
    // A pin of the observed description lifts it.
    assert!(
        commit(
            store,
            Writes::of(vec![pin("search", "h3", "pinned").upsert_write()])
        )
        .await?
    );
    assert_eq!(store.tool_pins().await?, [pin("search", "h3", "pinned")]);
    Ok(())
}
