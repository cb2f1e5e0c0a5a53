//! Connecting: urls, migrations, SQLite's journal mode.

use tribune_store::testing::TestStore;
use tribune_store::{Store, StoreError, TokenKind};

use crate::{TestResult, token};

on_both_backends!(migrations_are_idempotent);

/// Connecting again re-runs the migrator: it must find nothing to do and keep the data.
async fn migrations_are_idempotent(db: &TestStore) -> TestResult {
    let minted = token("tok-1", TokenKind::Agent, 1);
    db.store.insert_token(&minted).await?;

    for _ in 0..2 {
        let again = Store::connect(db.url()).await?;
        assert_eq!(again.backend_name(), db.store.backend_name());
        assert_eq!(again.token_by_hash(&minted.hash).await?, Some(minted.clone()));
        again.close().await;
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_url_creates_the_file_in_wal_mode() -> TestResult {
    use sqlx::{Connection, Row};

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await?;
    assert_eq!(store.backend_name(), "sqlite");
    assert!(path.exists());

    // WAL is a property of the file, so a separate connection sees it.
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[tokio::test]
async fn open_sqlite_creates_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("opened.db");
    let store = Store::open_sqlite(&path).await?;
    assert!(path.exists());
    assert_eq!(store.count_tokens_of_kind(TokenKind::Admin).await?, 0);
    Ok(())
}

#[tokio::test]
async fn unknown_scheme_is_rejected_without_echoing_the_url() -> TestResult {
    let err = Store::connect("mysql://root:hunter2@db.example/tribune")
        .await
        .err()
        .ok_or("mysql url accepted")?;
    assert!(matches!(&err, StoreError::InvalidUrl(scheme) if scheme == "mysql"));
    let message = err.to_string();
    assert_eq!(
        message,
        "unsupported database url scheme `mysql`: expected `sqlite://PATH` or `postgres://...`"
    );
    assert!(!message.contains("hunter2"));
    Ok(())
}
