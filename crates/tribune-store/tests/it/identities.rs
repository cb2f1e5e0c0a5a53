//! Identities and credentials, changed the way the server changes them: every change is built
//! by the store's `*_write` functions and committed with its ledger entry (`SideRecord::Writes`),
//! a guarded change that finds its row moved on coming back `Appended::Stale` with nothing
//! written. Covers registration, reads, bundle sync, state transitions, approval, review,
//! rotation, last-use flushing, credential revocation (with its cascade) and housekeeping.

use serde_json::json;
use sqlx::error::ErrorKind;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{
    Appended, CredentialRecord, EntryMeta, IdentityKind, IdentityOrigin, IdentityRecord, IdentityState,
    LedgerAppend, SideRecord, Store, StoreError, TokenKind, TokenRecord, Write, Writes,
};

use crate::TestResult;

on_both_backends!(
    insert_read_and_list,
    duplicate_identity_is_stale,
    schema_refuses_inconsistent_identities,
    bundle_sync_inserts_updates_and_spares_decommissioned,
    state_transitions,
    approve_only_from_pending,
    review_skips_decommissioned,
    rotate_revokes_only_older_live_credentials,
    touch_keeps_the_latest_use,
    credentials_insert_read_and_list,
    revoke_cascades_down_the_delegation_chain,
    revoke_identity_credentials_revokes_all_of_it,
    revoked_list_excludes_expired,
    purge_removes_only_expired,
    identity_writes_commit_with_their_entry_or_not_at_all,
);

const T0: i64 = 1_700_000_000_000;

/// An active, bundle-declared identity at generation 1, created at `T0`.
fn identity(id: &str) -> IdentityRecord {
    let kind = if id.starts_with("service:") {
        IdentityKind::Service
    } else {
        IdentityKind::Agent
    };
    IdentityRecord {
        id: id.to_owned(),
        kind,
        class: (kind == IdentityKind::Agent).then(|| "assistant".to_owned()),
        owner: "human:alice".to_owned(),
        scopes: vec!["fs.read".to_owned(), "web.search".to_owned()],
        origin: IdentityOrigin::Bundle,
        state: IdentityState::Active,
        state_reason: None,
        state_changed_at_ms: T0,
        state_changed_by: None,
        generation: 1,
        created_at_ms: T0,
        created_by: "bundle:abc".to_owned(),
        approved_at_ms: None,
        approved_by: None,
        last_used_at_ms: None,
        last_reviewed_at_ms: None,
        reviewed_by: None,
        secret_rotated_at_ms: T0,
    }
}

fn in_state(id: &str, state: IdentityState) -> IdentityRecord {
    IdentityRecord {
        state,
        ..identity(id)
    }
}

/// A live, unrevoked root credential of `identity` at generation 1, issued at `T0` for an hour.
fn credential(jti: &str, identity: &str) -> CredentialRecord {
    CredentialRecord {
        jti: jti.to_owned(),
        identity: identity.to_owned(),
        parent_jti: None,
        actor: None,
        scopes: vec!["fs.read".to_owned()],
        audience: "tribune".to_owned(),
        generation: 1,
        issued_at_ms: T0,
        expires_at_ms: T0 + 3_600_000,
        revoked_at_ms: None,
        revoked_reason: None,
    }
}

fn delegated(jti: &str, identity: &str, parent: &str, actor: &str) -> CredentialRecord {
    CredentialRecord {
        parent_jti: Some(parent.to_owned()),
        actor: Some(actor.to_owned()),
        ..credential(jti, identity)
    }
}

/// The revocation (time, reason) of each credential, in the order given.
async fn revocations(
    db: &TestStore,
    jtis: &[&str],
) -> Result<Vec<(Option<i64>, Option<String>)>, StoreError> {
    let mut out = Vec::new();
    for jti in jtis {
        let c = db.store.credential(jti).await?;
        out.push(c.map_or((None, Some("missing".to_owned())), |c| {
            (c.revoked_at_ms, c.revoked_reason)
        }));
    }
    Ok(out)
}

fn revoked(at_ms: i64, reason: &str) -> (Option<i64>, Option<String>) {
    (Some(at_ms), Some(reason.to_owned()))
}

const LIVE: (Option<i64>, Option<String>) = (None, None);

/// Commits `writes` with an entry of their own, as the server commits every identity change;
/// what the server then sees: [`Appended::Entry`] when the change and its entry were written
/// together, [`Appended::Stale`] when a guard found its row moved on and nothing was written.
async fn commit(store: &Store, writes: Writes) -> Result<Appended, Box<dyn std::error::Error + Send + Sync>> {
    let append = LedgerAppend {
        entry: Entry::from_json(&json!({ "event": "identity" }))?,
        meta: EntryMeta {
            event_class: "identity".to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: T0,
        },
        side: SideRecord::Writes(writes),
    };
    match store.append_ledger(&[append]).await?.as_slice() {
        [done] => Ok(*done),
        other => Err(format!("one entry appended as {other:?}").into()),
    }
}

/// Commits `writes` and fails unless they were written with their entry.
async fn written(store: &Store, writes: Writes) -> TestResult {
    match commit(store, writes).await? {
        Appended::Entry { .. } => Ok(()),
        other => Err(format!("expected the change written with its entry, got {other:?}").into()),
    }
}

/// `record` registered (or first declared by a bundle): guarded on its id being free.
fn created(record: &IdentityRecord) -> Writes {
    Writes::guarded(Store::insert_identity_write(record), 1, Vec::new())
}

/// A change of one identity row, guarded on it applying, with nothing after it.
fn guarded(write: Write) -> Writes {
    Writes::guarded(write, 1, Vec::new())
}

/// `credential` issued or delegated.
fn issued(credential: &CredentialRecord) -> Writes {
    Writes::of(vec![Store::insert_credential_write(credential)])
}

/// The store error behind a failed append, if it is a database error of `kind`.
fn database_error(err: &(dyn std::error::Error + Send + Sync + 'static), kind: ErrorKind) -> bool {
    matches!(
        err.downcast_ref::<StoreError>(),
        Some(StoreError::Database(e)) if e.as_database_error().is_some_and(|db| db.kind() == kind)
    )
}

async fn insert_read_and_list(db: &TestStore) -> TestResult {
    let store = &db.store;
    let agent = IdentityRecord {
        scopes: vec![],
        origin: IdentityOrigin::Runtime,
        state: IdentityState::Pending,
        state_reason: Some("registered".to_owned()),
        state_changed_by: Some("human:bob".to_owned()),
        generation: 7,
        approved_at_ms: Some(T0 + 1),
        approved_by: Some("human:carol".to_owned()),
        last_used_at_ms: Some(T0 + 2),
        last_reviewed_at_ms: Some(T0 + 3),
        reviewed_by: Some("human:dave".to_owned()),
        secret_rotated_at_ms: T0 + 4,
        ..identity("agent:summariser")
    };
    let service = identity("service:billing");
    written(store, created(&service)).await?;
    written(store, created(&agent)).await?;

    assert_eq!(store.identity("agent:summariser").await?, Some(agent.clone()));
    assert_eq!(store.identity("service:billing").await?, Some(service.clone()));
    assert_eq!(store.identity("agent:nobody").await?, None);
    assert_eq!(store.identities().await?, vec![agent, service]);
    assert_eq!(store.ledger_head().await?.size(), 2);
    Ok(())
}

async fn duplicate_identity_is_stale(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    // The id is taken: stale (the server answers 409), and nothing of it is written.
    assert_eq!(
        commit(store, created(&in_state("agent:a", IdentityState::Pending))).await?,
        Appended::Stale
    );
    assert_eq!(store.identities().await?, vec![identity("agent:a")]);
    assert_eq!(store.ledger_head().await?.size(), 1);
    Ok(())
}

async fn schema_refuses_inconsistent_identities(db: &TestStore) -> TestResult {
    let store = &db.store;
    let service_with_class = IdentityRecord {
        class: Some("assistant".to_owned()),
        ..identity("service:billing")
    };
    let wrong_prefix = IdentityRecord {
        kind: IdentityKind::Service,
        class: None,
        ..identity("agent:x")
    };
    let empty_name = identity("agent:");
    let generation_zero = IdentityRecord {
        generation: 0,
        ..identity("agent:zero")
    };
    let half_approved = IdentityRecord {
        approved_at_ms: Some(T0),
        ..identity("agent:half")
    };
    for bad in [
        service_with_class,
        wrong_prefix,
        empty_name,
        generation_zero,
        half_approved,
    ] {
        let err = commit(store, created(&bad))
            .await
            .err()
            .ok_or_else(|| format!("inconsistent identity accepted: {bad:?}"))?;
        assert!(
            matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Database(_))),
            "{err:?}"
        );
    }
    assert!(store.identities().await?.is_empty());
    assert_eq!(store.ledger_head().await?.size(), 0);
    Ok(())
}

/// The server diffs the registry against the bundle and commits each difference: a new id with
/// [`created`], a changed one with `sync_identity_write`. Here the store's half: each write
/// applies exactly when there is something to change.
async fn bundle_sync_inserts_updates_and_spares_decommissioned(db: &TestStore) -> TestResult {
    let store = &db.store;
    let sync = |record: &IdentityRecord| guarded(Store::sync_identity_write(record));
    written(store, created(&identity("agent:a"))).await?;
    assert_eq!(store.identity("agent:a").await?, Some(identity("agent:a")));
    // Declared again as it is: neither an insert nor an update applies.
    assert_eq!(
        commit(store, created(&identity("agent:a"))).await?,
        Appended::Stale
    );
    assert_eq!(commit(store, sync(&identity("agent:a"))).await?, Appended::Stale);

    // Class, owner and scopes follow the bundle; state, generation and timestamps do not.
    written(
        store,
        guarded(Store::rotate_identity_write("agent:a", 1, T0 + 10)),
    )
    .await?;
    written(
        store,
        guarded(Store::identity_state_write(
            "agent:a",
            &[IdentityState::Active],
            IdentityState::Suspended,
            Some("r"),
            "human:bob",
            T0 + 20,
        )),
    )
    .await?;
    let before = store.identity("agent:a").await?.ok_or("agent:a missing")?;
    let redeclared = IdentityRecord {
        class: Some("researcher".to_owned()),
        owner: "human:erin".to_owned(),
        scopes: vec!["web.search".to_owned()],
        state: IdentityState::Active,
        generation: 1,
        created_at_ms: T0 + 99,
        ..identity("agent:a")
    };
    written(store, sync(&redeclared)).await?;
    let expected = IdentityRecord {
        class: Some("researcher".to_owned()),
        owner: "human:erin".to_owned(),
        scopes: vec!["web.search".to_owned()],
        ..before
    };
    assert_eq!(expected.state, IdentityState::Suspended);
    assert_eq!(expected.generation, 2);
    assert_eq!(store.identity("agent:a").await?, Some(expected.clone()));
    assert_eq!(commit(store, sync(&redeclared)).await?, Appended::Stale);

    // Each field alone counts as a change: class to none, scopes to empty.
    let classless = IdentityRecord {
        class: None,
        ..redeclared.clone()
    };
    written(store, sync(&classless)).await?;
    assert_eq!(
        store.identity("agent:a").await?.ok_or("agent:a missing")?.class,
        None
    );
    let unscoped = IdentityRecord {
        scopes: vec![],
        ..classless
    };
    written(store, sync(&unscoped)).await?;
    assert_eq!(
        store.identity("agent:a").await?.ok_or("agent:a missing")?.scopes,
        Vec::<String>::new()
    );

    // A runtime identity the bundle now declares becomes a bundle identity.
    let runtime = IdentityRecord {
        origin: IdentityOrigin::Runtime,
        ..identity("agent:b")
    };
    written(store, created(&runtime)).await?;
    written(store, sync(&identity("agent:b"))).await?;
    assert_eq!(store.identity("agent:b").await?, Some(identity("agent:b")));

    // A decommissioned identity is neither resurrected nor edited.
    let retired = in_state("agent:c", IdentityState::Decommissioned);
    written(store, created(&retired)).await?;
    let redeclared = IdentityRecord {
        owner: "human:erin".to_owned(),
        ..identity("agent:c")
    };
    assert_eq!(commit(store, created(&redeclared)).await?, Appended::Stale);
    assert_eq!(commit(store, sync(&redeclared)).await?, Appended::Stale);
    assert_eq!(commit(store, sync(&retired)).await?, Appended::Stale);
    assert_eq!(store.identity("agent:c").await?, Some(retired));
    Ok(())
}

async fn state_transitions(db: &TestStore) -> TestResult {
    use IdentityState::{Active, Decommissioned, Pending, Suspended};
    let store = &db.store;
    // (current state, allowed from, to, whether it moves)
    let cases: &[(IdentityState, &[IdentityState], IdentityState, bool)] = &[
        (Active, &[Active], Suspended, true),
        (Suspended, &[Suspended], Active, true),
        (Pending, &[Pending], Active, true),
        (Pending, &[Pending, Active, Suspended], Decommissioned, true),
        (Active, &[Pending, Active, Suspended], Decommissioned, true),
        (Suspended, &[Pending, Active, Suspended], Decommissioned, true),
        (Active, &[Active], Active, true),
        (Active, &[Suspended], Active, false),
        (Active, &[Pending], Suspended, false),
        (Suspended, &[Active], Suspended, false),
        (Pending, &[], Active, false),
        // Decommissioned is terminal, even when the caller lists it.
        (Decommissioned, &[Decommissioned], Active, false),
        (
            Decommissioned,
            &[Pending, Active, Suspended, Decommissioned],
            Suspended,
            false,
        ),
        (Decommissioned, &[Decommissioned], Decommissioned, false),
    ];
    for (n, &(from, allowed, to, moves)) in cases.iter().enumerate() {
        let id = format!("agent:case-{n}");
        let before = in_state(&id, from);
        written(store, created(&before)).await?;
        let done = commit(
            store,
            guarded(Store::identity_state_write(
                &id,
                allowed,
                to,
                Some("because"),
                "human:bob",
                T0 + 50,
            )),
        )
        .await?;
        let after = IdentityRecord {
            state: to,
            state_reason: Some("because".to_owned()),
            state_changed_at_ms: T0 + 50,
            state_changed_by: Some("human:bob".to_owned()),
            ..before.clone()
        };
        let case = format!("case {n}: {from} -> {to} allowed from {allowed:?}: {done:?}");
        if moves {
            assert!(matches!(done, Appended::Entry { .. }), "{case}");
            assert_eq!(store.identity(&id).await?, Some(after), "{case}");
        } else {
            assert_eq!(done, Appended::Stale, "{case}");
            assert_eq!(store.identity(&id).await?, Some(before), "{case}");
        }
    }

    // No reason clears the previous one.
    written(
        store,
        guarded(Store::identity_state_write(
            "agent:case-0",
            &[Suspended],
            Active,
            None,
            "human:carol",
            T0 + 60,
        )),
    )
    .await?;
    let moved = store
        .identity("agent:case-0")
        .await?
        .ok_or("agent:case-0 missing")?;
    assert_eq!(
        (
            moved.state,
            moved.state_reason,
            moved.state_changed_by,
            moved.state_changed_at_ms
        ),
        (Active, None, Some("human:carol".to_owned()), T0 + 60)
    );

    assert_eq!(
        commit(
            store,
            guarded(Store::identity_state_write(
                "agent:nobody",
                &[Active],
                Suspended,
                None,
                "human:bob",
                T0
            ))
        )
        .await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:nobody").await?, None);
    Ok(())
}

async fn approve_only_from_pending(db: &TestStore) -> TestResult {
    let store = &db.store;
    let approve = |id: &str, by: &str, at_ms: i64| guarded(Store::approve_identity_write(id, by, at_ms));
    let pending = IdentityRecord {
        state_reason: Some("awaiting approval".to_owned()),
        ..in_state("agent:new", IdentityState::Pending)
    };
    written(store, created(&pending)).await?;
    let approved = IdentityRecord {
        state: IdentityState::Active,
        state_reason: None,
        state_changed_at_ms: T0 + 5,
        state_changed_by: Some("human:carol".to_owned()),
        approved_at_ms: Some(T0 + 5),
        approved_by: Some("human:carol".to_owned()),
        ..pending
    };
    written(store, approve("agent:new", "human:carol", T0 + 5)).await?;
    assert_eq!(store.identity("agent:new").await?, Some(approved.clone()));
    // Not twice, and from no other state.
    assert_eq!(
        commit(store, approve("agent:new", "human:dave", T0 + 6)).await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:new").await?, Some(approved));
    for state in [IdentityState::Suspended, IdentityState::Decommissioned] {
        let id = format!("agent:{state}");
        written(store, created(&in_state(&id, state))).await?;
        assert_eq!(
            commit(store, approve(&id, "human:carol", T0 + 5)).await?,
            Appended::Stale,
            "{state}"
        );
        assert_eq!(store.identity(&id).await?, Some(in_state(&id, state)));
    }
    assert_eq!(
        commit(store, approve("agent:nobody", "human:carol", T0)).await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:nobody").await?, None);
    Ok(())
}

async fn review_skips_decommissioned(db: &TestStore) -> TestResult {
    let store = &db.store;
    let review = |id: &str, at_ms: i64| guarded(Store::review_identity_write(id, "human:alice", at_ms));
    for state in [
        IdentityState::Pending,
        IdentityState::Active,
        IdentityState::Suspended,
    ] {
        let id = format!("agent:{state}");
        written(store, created(&in_state(&id, state))).await?;
        let reviewed = IdentityRecord {
            last_reviewed_at_ms: Some(T0 + 7),
            reviewed_by: Some("human:alice".to_owned()),
            ..in_state(&id, state)
        };
        written(store, review(&id, T0 + 7)).await?;
        assert_eq!(store.identity(&id).await?, Some(reviewed));
    }
    let retired = in_state("agent:retired", IdentityState::Decommissioned);
    written(store, created(&retired)).await?;
    assert_eq!(
        commit(store, review("agent:retired", T0 + 7)).await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:retired").await?, Some(retired));
    assert_eq!(commit(store, review("agent:nobody", T0)).await?, Appended::Stale);
    assert_eq!(store.identity("agent:nobody").await?, None);
    Ok(())
}

/// A rotation of `id` read at generation `from`, as the server commits it (less the secrets).
fn rotation(id: &str, from: u32, at_ms: i64) -> Writes {
    Writes::guarded(
        Store::rotate_identity_write(id, from, at_ms),
        1,
        vec![Store::revoke_rotated_credentials_write(id, from + 1, at_ms)],
    )
}

async fn rotate_revokes_only_older_live_credentials(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    written(store, created(&identity("agent:other"))).await?;
    let now = T0 + 1_000;
    let expired = CredentialRecord {
        expires_at_ms: now,
        ..credential("old-expired", "agent:a")
    };
    let already_revoked = CredentialRecord {
        revoked_at_ms: Some(T0 + 500),
        revoked_reason: Some("manual".to_owned()),
        ..credential("old-revoked", "agent:a")
    };
    for c in [
        credential("old-live", "agent:a"),
        delegated("old-live-child", "agent:a", "old-live", "helper"),
        expired,
        already_revoked,
        credential("other-live", "agent:other"),
    ] {
        written(store, issued(&c)).await?;
    }

    written(store, rotation("agent:a", 1, now)).await?;
    assert_eq!(
        store.identity("agent:a").await?,
        Some(IdentityRecord {
            generation: 2,
            secret_rotated_at_ms: now,
            ..identity("agent:a")
        })
    );
    let all = [
        "old-live",
        "old-live-child",
        "old-expired",
        "old-revoked",
        "other-live",
    ];
    assert_eq!(
        revocations(db, &all).await?,
        vec![
            revoked(now, "rotated"),
            revoked(now, "rotated"),
            LIVE,
            revoked(T0 + 500, "manual"),
            LIVE,
        ]
    );

    // Credentials of the current generation survive; the next rotation takes them, also while
    // suspended.
    let current = CredentialRecord {
        generation: 2,
        ..credential("gen2", "agent:a")
    };
    written(store, issued(&current)).await?;
    written(
        store,
        guarded(Store::identity_state_write(
            "agent:a",
            &[IdentityState::Active],
            IdentityState::Suspended,
            None,
            "human:bob",
            now,
        )),
    )
    .await?;
    let mut second = store.identity("agent:a").await?.ok_or("agent:a missing")?;
    assert_eq!(second.state, IdentityState::Suspended);
    assert_eq!(revocations(db, &["gen2"]).await?, vec![LIVE]);
    second.generation = 3;
    second.secret_rotated_at_ms = now + 1;
    written(store, rotation("agent:a", 2, now + 1)).await?;
    assert_eq!(store.identity("agent:a").await?, Some(second.clone()));
    assert_eq!(
        revocations(db, &["gen2"]).await?,
        vec![revoked(now + 1, "rotated")]
    );
    // A rotation that read the generation before is stale.
    assert_eq!(
        commit(store, rotation("agent:a", 2, now + 2)).await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:a").await?, Some(second));

    // Pending identities have no secret to rotate until approved; decommissioned and unknown
    // ones none at all.
    let pending = in_state("agent:p", IdentityState::Pending);
    written(store, created(&pending)).await?;
    assert_eq!(commit(store, rotation("agent:p", 1, now)).await?, Appended::Stale);
    assert_eq!(store.identity("agent:p").await?, Some(pending));
    let retired = in_state("agent:retired", IdentityState::Decommissioned);
    written(store, created(&retired)).await?;
    written(store, issued(&credential("retired-live", "agent:retired"))).await?;
    assert_eq!(
        commit(store, rotation("agent:retired", 1, now)).await?,
        Appended::Stale
    );
    assert_eq!(store.identity("agent:retired").await?, Some(retired));
    assert_eq!(revocations(db, &["retired-live"]).await?, vec![LIVE]);
    assert_eq!(
        commit(store, rotation("agent:nobody", 1, now)).await?,
        Appended::Stale
    );
    Ok(())
}

async fn touch_keeps_the_latest_use(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    written(store, created(&identity("service:b"))).await?;
    let last_used = |id: &'static str| async move {
        Ok::<_, StoreError>(store.identity(id).await?.and_then(|r| r.last_used_at_ms))
    };

    store.touch_identities(&[]).await?;
    store
        .touch_identities(&[("agent:a".to_owned(), T0 + 100)])
        .await?;
    assert_eq!(last_used("agent:a").await?, Some(T0 + 100));
    store.touch_identities(&[("agent:a".to_owned(), T0 + 50)]).await?;
    assert_eq!(last_used("agent:a").await?, Some(T0 + 100));
    store
        .touch_identities(&[
            ("service:b".to_owned(), T0 + 10),
            ("agent:a".to_owned(), T0 + 200),
            ("agent:unknown".to_owned(), T0 + 300),
            ("service:b".to_owned(), T0 + 5),
        ])
        .await?;
    assert_eq!(last_used("agent:a").await?, Some(T0 + 200));
    assert_eq!(last_used("service:b").await?, Some(T0 + 10));
    assert_eq!(store.identities().await?.len(), 2);
    Ok(())
}

async fn credentials_insert_read_and_list(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    written(store, created(&identity("agent:b"))).await?;
    let now = T0 + 10_000;
    let second = CredentialRecord {
        issued_at_ms: T0 + 1,
        scopes: vec![],
        ..delegated("c2", "agent:a", "c1", "sub-agent")
    };
    let expired = CredentialRecord {
        issued_at_ms: T0 + 2,
        expires_at_ms: now,
        revoked_at_ms: Some(T0 + 3),
        revoked_reason: Some("manual".to_owned()),
        generation: 4,
        ..credential("c3", "agent:a")
    };
    for c in [
        expired.clone(),
        second.clone(),
        credential("c1", "agent:a"),
        credential("b1", "agent:b"),
    ] {
        written(store, issued(&c)).await?;
    }

    assert_eq!(store.credential("c2").await?, Some(second.clone()));
    assert_eq!(store.credential("c3").await?, Some(expired.clone()));
    assert_eq!(store.credential("nope").await?, None);
    assert_eq!(
        store.credentials_of("agent:a", false, now).await?,
        vec![credential("c1", "agent:a"), second.clone()]
    );
    assert_eq!(
        store.credentials_of("agent:a", true, now).await?,
        vec![credential("c1", "agent:a"), second, expired]
    );
    assert_eq!(store.credentials_of("agent:nobody", true, now).await?, vec![]);

    // A failing statement fails the append: neither the credential nor its entry is written.
    let size = store.ledger_head().await?.size();
    let err = commit(store, issued(&credential("c1", "agent:b")))
        .await
        .err()
        .ok_or("duplicate jti accepted")?;
    assert!(database_error(&*err, ErrorKind::UniqueViolation), "{err:?}");
    let err = commit(store, issued(&credential("x1", "agent:nobody")))
        .await
        .err()
        .ok_or("credential of an unknown identity accepted")?;
    assert!(database_error(&*err, ErrorKind::ForeignKeyViolation), "{err:?}");
    let backwards = CredentialRecord {
        expires_at_ms: T0,
        ..credential("x2", "agent:a")
    };
    let err = commit(store, issued(&backwards))
        .await
        .err()
        .ok_or("credential expiring when issued accepted")?;
    assert!(
        matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Database(_))),
        "{err:?}"
    );
    assert_eq!(
        store.credentials_of("agent:b", true, now).await?,
        vec![credential("b1", "agent:b")]
    );
    assert_eq!(store.credential("x1").await?, None);
    assert_eq!(store.credential("x2").await?, None);
    assert_eq!(store.ledger_head().await?.size(), size);
    Ok(())
}

async fn revoke_cascades_down_the_delegation_chain(db: &TestStore) -> TestResult {
    let store = &db.store;
    let revoke = |jti: &str, reason: &str, at_ms: i64| {
        Writes::of(vec![Store::revoke_credential_write(jti, reason, at_ms)])
    };
    written(store, created(&identity("agent:a"))).await?;
    written(store, created(&identity("agent:b"))).await?;
    // root -> child -> grandchild, plus a sibling under root's parent-less peer, and another
    // identity's credential delegated from the grandchild.
    for c in [
        credential("root", "agent:a"),
        delegated("child", "agent:a", "root", "helper"),
        delegated("grandchild", "agent:a", "child", "sub-helper"),
        delegated("b-from-grandchild", "agent:b", "grandchild", "agent:b"),
        credential("peer", "agent:a"),
        delegated("peer-child", "agent:a", "peer", "helper"),
        delegated("child-sibling", "agent:a", "root", "other-helper"),
        credential("b-root", "agent:b"),
    ] {
        written(store, issued(&c)).await?;
    }
    let all = [
        "root",
        "child",
        "grandchild",
        "b-from-grandchild",
        "peer",
        "peer-child",
        "child-sibling",
        "b-root",
    ];

    // Revoking a middle link takes it and what hangs below it, not its parent or siblings.
    written(store, revoke("child", "leaked", T0 + 1)).await?;
    let after_child = vec![
        LIVE,
        revoked(T0 + 1, "leaked"),
        revoked(T0 + 1, "leaked"),
        revoked(T0 + 1, "leaked"),
        LIVE,
        LIVE,
        LIVE,
        LIVE,
    ];
    assert_eq!(revocations(db, &all).await?, after_child);
    // Again: nothing newly revoked, the first revocation kept.
    written(store, revoke("child", "again", T0 + 2)).await?;
    assert_eq!(revocations(db, &all).await?, after_child);

    // Revoking the root takes the rest of its tree; earlier revocations keep their time.
    written(store, revoke("root", "compromised", T0 + 3)).await?;
    let after_root = vec![
        revoked(T0 + 3, "compromised"),
        revoked(T0 + 1, "leaked"),
        revoked(T0 + 1, "leaked"),
        revoked(T0 + 1, "leaked"),
        LIVE,
        LIVE,
        revoked(T0 + 3, "compromised"),
        LIVE,
    ];
    assert_eq!(revocations(db, &all).await?, after_root);

    // A leaf revokes alone; unknown jtis revoke nothing.
    written(store, revoke("peer-child", "done", T0 + 4)).await?;
    assert_eq!(
        revocations(db, &["peer", "peer-child"]).await?,
        vec![LIVE, revoked(T0 + 4, "done")]
    );
    let after_leaf = revocations(db, &all).await?;
    written(store, revoke("nope", "done", T0 + 4)).await?;
    assert_eq!(revocations(db, &all).await?, after_leaf);
    Ok(())
}

async fn revoke_identity_credentials_revokes_all_of_it(db: &TestStore) -> TestResult {
    let store = &db.store;
    let revoke_all = |identity: &str, reason: &str, at_ms: i64| {
        Writes::of(vec![Store::revoke_identity_credentials_write(
            identity, reason, at_ms,
        )])
    };
    written(store, created(&identity("agent:a"))).await?;
    written(store, created(&identity("agent:b"))).await?;
    let already = CredentialRecord {
        revoked_at_ms: Some(T0 + 1),
        revoked_reason: Some("manual".to_owned()),
        ..credential("a-revoked", "agent:a")
    };
    let expired = CredentialRecord {
        expires_at_ms: T0 + 2,
        ..credential("a-expired", "agent:a")
    };
    for c in [
        credential("a1", "agent:a"),
        delegated("a1-child", "agent:a", "a1", "helper"),
        already,
        expired,
        delegated("b-from-a1", "agent:b", "a1", "agent:b"),
        credential("b1", "agent:b"),
    ] {
        written(store, issued(&c)).await?;
    }
    let all = ["a1", "a1-child", "a-revoked", "a-expired", "b-from-a1", "b1"];
    written(store, revoke_all("agent:a", "decommissioned", T0 + 9)).await?;
    let after = vec![
        revoked(T0 + 9, "decommissioned"),
        revoked(T0 + 9, "decommissioned"),
        revoked(T0 + 1, "manual"),
        revoked(T0 + 9, "decommissioned"),
        revoked(T0 + 9, "decommissioned"),
        LIVE,
    ];
    assert_eq!(revocations(db, &all).await?, after);
    // Again, or for an unknown identity: nothing newly revoked.
    written(store, revoke_all("agent:a", "again", T0 + 10)).await?;
    written(store, revoke_all("agent:nobody", "x", T0 + 10)).await?;
    assert_eq!(revocations(db, &all).await?, after);
    Ok(())
}

async fn revoked_list_excludes_expired(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    let now = T0 + 1_000;
    let ending = |jti: &str, expires_at_ms: i64| CredentialRecord {
        expires_at_ms,
        ..credential(jti, "agent:a")
    };
    for c in [
        ending("expired-before", now - 1),
        ending("expires-now", now),
        ending("later", now + 2),
        ending("sooner", now + 1),
        ending("unrevoked", now + 1),
    ] {
        written(store, issued(&c)).await?;
    }
    assert_eq!(store.revoked_credentials_since(now).await?, vec![]);
    let revoking = ["expired-before", "expires-now", "later", "sooner"];
    for jti in revoking {
        written(
            store,
            Writes::of(vec![Store::revoke_credential_write(jti, "test", T0)]),
        )
        .await?;
    }
    assert_eq!(revocations(db, &revoking).await?, vec![revoked(T0, "test"); 4]);
    assert_eq!(
        store.revoked_credentials_since(now).await?,
        vec![("sooner".to_owned(), now + 1), ("later".to_owned(), now + 2)]
    );
    assert_eq!(
        store.revoked_credentials_since(now + 1).await?,
        vec![("later".to_owned(), now + 2)]
    );
    assert_eq!(store.revoked_credentials_since(now + 2).await?, vec![]);
    Ok(())
}

async fn purge_removes_only_expired(db: &TestStore) -> TestResult {
    let store = &db.store;
    written(store, created(&identity("agent:a"))).await?;
    let ending = |jti: &str, expires_at_ms: i64| CredentialRecord {
        expires_at_ms,
        ..credential(jti, "agent:a")
    };
    written(store, issued(&ending("e1", T0 + 10))).await?;
    written(store, issued(&ending("e2", T0 + 20))).await?;
    written(store, issued(&ending("e3", T0 + 30))).await?;
    written(
        store,
        Writes::of(vec![Store::revoke_credential_write("e1", "test", T0 + 1)]),
    )
    .await?;

    assert_eq!(store.purge_expired_credentials(T0 + 10).await?, 0);
    assert_eq!(store.purge_expired_credentials(T0 + 21).await?, 2);
    assert_eq!(store.credential("e1").await?, None);
    assert_eq!(store.credential("e2").await?, None);
    assert_eq!(
        store.credentials_of("agent:a", true, T0).await?,
        vec![ending("e3", T0 + 30)]
    );
    assert_eq!(store.purge_expired_credentials(T0 + 21).await?, 0);
    Ok(())
}

#[test]
fn enums_round_trip() -> TestResult {
    for kind in IdentityKind::ALL {
        assert_eq!(kind.as_str().parse::<IdentityKind>(), Ok(kind));
    }
    for origin in IdentityOrigin::ALL {
        assert_eq!(origin.to_string().parse::<IdentityOrigin>(), Ok(origin));
    }
    for state in IdentityState::ALL {
        assert_eq!(state.as_str().parse::<IdentityState>(), Ok(state));
    }
    assert_eq!(IdentityKind::ALL.map(IdentityKind::as_str), ["agent", "service"]);
    assert_eq!(
        IdentityOrigin::ALL.map(IdentityOrigin::as_str),
        ["bundle", "runtime"]
    );
    assert_eq!(
        IdentityState::ALL.map(IdentityState::as_str),
        ["pending", "active", "suspended", "decommissioned"]
    );
    let err = "human"
        .parse::<IdentityKind>()
        .err()
        .ok_or("`human` parsed as a kind")?;
    assert_eq!(
        err.to_string(),
        "unknown identity kind `human`: expected `agent` or `service`"
    );
    let err = "retired"
        .parse::<IdentityState>()
        .err()
        .ok_or("`retired` parsed as a state")?;
    assert_eq!(
        err.to_string(),
        "unknown identity state `retired`: expected `pending`, `active`, `suspended` or `decommissioned`"
    );
    Ok(())
}

fn secret(id: &str, subject: &str) -> TokenRecord {
    let mut hash = [0u8; 32];
    hash[..id.len()].copy_from_slice(id.as_bytes());
    TokenRecord {
        id: id.to_owned(),
        hash,
        kind: TokenKind::Agent,
        subject: Some(subject.to_owned()),
        label: String::new(),
        created_at_ms: T0,
        revoked_at_ms: None,
    }
}

async fn identity_writes_commit_with_their_entry_or_not_at_all(db: &TestStore) -> TestResult {
    let store = &db.store;
    let guarded = |w, then| Writes::guarded(w, 1, then);
    let first = secret("tok-1", "a");
    // Created with its secret; created again: stale, and nothing of it is written.
    written(
        store,
        guarded(
            Store::insert_identity_write(&identity("agent:a")),
            vec![Store::insert_token_write(&first)],
        ),
    )
    .await?;
    assert_eq!(
        commit(
            store,
            guarded(
                Store::insert_identity_write(&identity("agent:a")),
                vec![Store::insert_token_write(&secret("tok-x", "a"))]
            )
        )
        .await?,
        Appended::Stale
    );
    assert_eq!(store.list_tokens().await?.len(), 1);
    written(store, issued(&credential("c1", "agent:a"))).await?;

    // A state change from a state it is no longer in is stale.
    let suspend = || {
        Store::identity_state_write(
            "agent:a",
            &[IdentityState::Active],
            IdentityState::Suspended,
            Some("odd"),
            "human:bob",
            T0 + 1,
        )
    };
    written(store, guarded(suspend(), vec![])).await?;
    assert_eq!(commit(store, guarded(suspend(), vec![])).await?, Appended::Stale);
    let a = store.identity("agent:a").await?.ok_or("missing")?;
    assert_eq!(
        (a.state, a.state_reason.as_deref()),
        (IdentityState::Suspended, Some("odd"))
    );

    // Rotation from generation 1: the credential and the old secret go, the new one stays.
    let second = secret("tok-2", "a");
    let rotate = |from, token: &TokenRecord| {
        guarded(
            Store::rotate_identity_write("agent:a", from, T0 + 2),
            vec![
                Store::revoke_rotated_credentials_write("agent:a", from + 1, T0 + 2),
                Store::insert_token_write(token),
                Store::revoke_subject_tokens_write(TokenKind::Agent, "a", Some(&token.id), T0 + 2),
            ],
        )
    };
    written(store, rotate(1, &second)).await?;
    // A second rotation that read generation 1 too loses: no third secret, nothing revoked.
    assert_eq!(
        commit(store, rotate(1, &secret("tok-3", "a"))).await?,
        Appended::Stale
    );
    let a = store.identity("agent:a").await?.ok_or("missing")?;
    assert_eq!((a.generation, a.secret_rotated_at_ms), (2, T0 + 2));
    let tokens = store.list_tokens().await?;
    let revoked: Vec<(&str, Option<i64>)> = tokens.iter().map(|t| (t.id.as_str(), t.revoked_at_ms)).collect();
    assert_eq!(revoked, [("tok-1", Some(T0 + 2)), ("tok-2", None)]);
    let c1 = store.credential("c1").await?.ok_or("missing")?;
    assert_eq!(c1.revoked_reason.as_deref(), Some("rotated"));

    // Decommission: the state, every credential and every secret, in one go.
    written(
        store,
        issued(&CredentialRecord {
            generation: 2,
            ..credential("c2", "agent:a")
        }),
    )
    .await?;
    let decommission = guarded(
        Store::identity_state_write(
            "agent:a",
            &[IdentityState::Active, IdentityState::Suspended],
            IdentityState::Decommissioned,
            None,
            "human:bob",
            T0 + 3,
        ),
        vec![
            Store::revoke_identity_credentials_write("agent:a", "decommissioned", T0 + 3),
            Store::revoke_subject_tokens_write(TokenKind::Agent, "a", None, T0 + 3),
        ],
    );
    written(store, decommission).await?;
    let c2 = store.credential("c2").await?.ok_or("missing")?;
    assert_eq!(c2.revoked_reason.as_deref(), Some("decommissioned"));
    assert!(
        store
            .list_tokens()
            .await?
            .iter()
            .all(|t| t.revoked_at_ms.is_some())
    );
    // Terminal: no write moves it out, and no review or rotation applies.
    assert_eq!(
        commit(
            store,
            guarded(
                Store::identity_state_write(
                    "agent:a",
                    &IdentityState::ALL,
                    IdentityState::Active,
                    None,
                    "human:bob",
                    T0 + 4
                ),
                vec![]
            )
        )
        .await?,
        Appended::Stale
    );
    assert_eq!(
        commit(
            store,
            guarded(
                Store::review_identity_write("agent:a", "human:bob", T0 + 4),
                vec![]
            )
        )
        .await?,
        Appended::Stale
    );
    assert_eq!(
        commit(store, rotate(2, &secret("tok-4", "a"))).await?,
        Appended::Stale
    );
    Ok(())
}
