//! Provider vettings and tool pins: history kept in order, an observed description that
//! vetting pins, a quarantine recorded once per differing hash, and a pin that lifts it.

use tribune_store::testing::TestStore;
use tribune_store::{ToolPinRecord, VettingRecord};

use crate::TestResult;

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
    let first = store
        .insert_vetting(&vetting("helpdesk", "approved", 1), &[])
        .await?;
    let second = store
        .insert_vetting(&vetting("payments", "rejected", 2), &[])
        .await?;
    let third = store
        .insert_vetting(&vetting("helpdesk", "probation", 3), &[])
        .await?;
    assert!(first < second && second < third);
    let all = store.vettings().await?;
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
    // A status the schema does not know is refused.
    assert!(
        store
            .insert_vetting(&vetting("helpdesk", "maybe", 4), &[])
            .await
            .is_err()
    );
    Ok(())
}

async fn pins_quarantine_and_repin(db: &TestStore) -> TestResult {
    let store = &db.store;
    // Reported before vetting: observed, replaced by a later report.
    store.observe_tool(&pin("search", "h0", "observed")).await?;
    store.observe_tool(&pin("search", "h1", "observed")).await?;
    assert_eq!(store.tool_pins().await?, [pin("search", "h1", "observed")]);
    // Vetting pins it; a report no longer touches a pinned row.
    store
        .insert_vetting(
            &vetting("helpdesk", "approved", 1),
            &[pin("search", "h1", "pinned")],
        )
        .await?;
    store.observe_tool(&pin("search", "h9", "observed")).await?;
    assert_eq!(store.tool_pins().await?, [pin("search", "h1", "pinned")]);
    // The pinned hash again quarantines nothing; a different one once; a third again.
    assert!(!store.quarantine_tool("search", "h1", "{}").await?);
    assert!(store.quarantine_tool("search", "h2", "{\"d\":2}").await?);
    assert!(!store.quarantine_tool("search", "h2", "{\"d\":2}").await?);
    assert!(store.quarantine_tool("search", "h3", "{\"d\":3}").await?);
    assert!(!store.quarantine_tool("unpinned", "h2", "{}").await?);
    let quarantined = &store.tool_pins().await?[0];
    assert_eq!(
        (quarantined.state.as_str(), quarantined.hash.as_str()),
        ("quarantined", "h1")
    );
    assert_eq!(quarantined.observed_hash.as_deref(), Some("h3"));
    assert_eq!(quarantined.observed_description.as_deref(), Some("{\"d\":3}"));
    // A pin of the observed description lifts it.
    store.upsert_pins(&[pin("search", "h3", "pinned")]).await?;
    assert_eq!(store.tool_pins().await?, [pin("search", "h3", "pinned")]);
    Ok(())
}
