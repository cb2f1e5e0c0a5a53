//! Tokens: insert, lookup by hash, listing, revocation, counting, uniqueness.

use tribune_store::testing::TestStore;
use tribune_store::{Entity, StoreError, TokenKind};

use crate::{TestResult, token};

on_both_backends!(
    insert_lookup_and_revoke,
    count_by_kind,
    duplicate_hash_or_id_conflicts,
    subject_must_match_kind,
);

async fn insert_lookup_and_revoke(db: &TestStore) -> TestResult {
    let store = &db.store;
    let agent = token("tok-agent", TokenKind::Agent, 1);
    let admin = token("tok-admin", TokenKind::Admin, 2);
    store.insert_token(&agent).await?;
    store.insert_token(&admin).await?;

    assert_eq!(store.token_by_hash(&agent.hash).await?, Some(agent.clone()));
    assert_eq!(store.token_by_hash(&admin.hash).await?, Some(admin.clone()));
    assert_eq!(store.token_by_hash(&[9; 32]).await?, None);
    assert_eq!(store.list_tokens().await?, vec![agent.clone(), admin.clone()]);

    assert!(store.revoke_token("tok-agent", 1_800_000_000_000).await?);
    // Revoking again keeps the first time; an unknown id revokes nothing.
    assert!(!store.revoke_token("tok-agent", 1_900_000_000_000).await?);
    assert!(!store.revoke_token("tok-nobody", 1_900_000_000_000).await?);

    // Lookups still return a revoked token: the caller decides what revocation means.
    let revoked = store
        .token_by_hash(&agent.hash)
        .await?
        .ok_or("revoked token not found")?;
    assert_eq!(revoked.revoked_at_ms, Some(1_800_000_000_000));
    assert_eq!(store.token_by_hash(&admin.hash).await?, Some(admin));
    Ok(())
}

async fn count_by_kind(db: &TestStore) -> TestResult {
    let store = &db.store;
    for kind in TokenKind::ALL {
        assert_eq!(store.count_tokens_of_kind(kind).await?, 0);
    }
    store.insert_token(&token("a1", TokenKind::Agent, 1)).await?;
    store.insert_token(&token("a2", TokenKind::Agent, 2)).await?;
    store.insert_token(&token("h1", TokenKind::Human, 3)).await?;
    store.revoke_token("a2", 1).await?;

    assert_eq!(store.count_tokens_of_kind(TokenKind::Agent).await?, 2);
    assert_eq!(store.count_tokens_of_kind(TokenKind::Human).await?, 1);
    assert_eq!(store.count_tokens_of_kind(TokenKind::Service).await?, 0);
    assert_eq!(store.count_tokens_of_kind(TokenKind::Admin).await?, 0);
    Ok(())
}

async fn duplicate_hash_or_id_conflicts(db: &TestStore) -> TestResult {
    let store = &db.store;
    store.insert_token(&token("first", TokenKind::Service, 7)).await?;

    let same_hash = token("second", TokenKind::Human, 7);
    let err = store
        .insert_token(&same_hash)
        .await
        .err()
        .ok_or("duplicate hash accepted")?;
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Token, key } if key == "second"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "token `second` conflicts with one already stored"
    );

    let same_id = token("first", TokenKind::Human, 8);
    let err = store
        .insert_token(&same_id)
        .await
        .err()
        .ok_or("duplicate id accepted")?;
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: Entity::Token,
                ..
            }
        ),
        "{err:?}"
    );

    assert_eq!(store.list_tokens().await?.len(), 1);
    Ok(())
}

async fn subject_must_match_kind(db: &TestStore) -> TestResult {
    let store = &db.store;
    let mut admin_with_subject = token("admin", TokenKind::Admin, 1);
    admin_with_subject.subject = Some("someone".to_owned());
    let mut agent_without_subject = token("agent", TokenKind::Agent, 2);
    agent_without_subject.subject = None;

    for bad in [admin_with_subject, agent_without_subject] {
        let err = store
            .insert_token(&bad)
            .await
            .err()
            .ok_or("token with a mismatched subject accepted")?;
        assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    }
    assert!(store.list_tokens().await?.is_empty());
    Ok(())
}
