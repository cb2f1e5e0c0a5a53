//! Non-human identities (agents and services) and the short-lived credentials issued to them.
//!
//! An identity's life is a small state machine (`pending` → `active` ⇄ `suspended` →
//! `decommissioned`, the last one terminal). Every change is a [`Write`] the server commits in
//! the same transaction as its ledger entry; a transition is one conditional `UPDATE ... WHERE
//! state IN (...)` used as the guard, so two operators racing on the same identity cannot both
//! win, and the loser's append comes back [`crate::Appended::Stale`] with nothing written.
//!
//! Every credential issued is recorded, so it can be listed and revoked.
//! INVARIANT(revocation-cascades): whenever the store revokes a credential, it revokes every
//! credential delegated from it, however deep (a recursive CTE over `parent_jti`, which SQLite
//! and PostgreSQL both run). A delegated credential therefore never outlives its parent's
//! revocation. The server keeps [`Store::revoked_credentials_since`] in memory so a revoked
//! credential is refused on the very next decision.

use std::fmt;
use std::str::FromStr;

use crate::error::{Entity, StoreError};
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// Defines a closed set of names stored as lowercase text: the enum, `ALL`, `as_str`,
/// `Display`, and `FromStr` with its own error type.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $error:ident, $message:literal {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in a stable order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant,)+];

            /// The lowercase name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("The error of parsing a [`", stringify!($name), "`] from text.")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error($message)]
        pub struct $error(pub String);

        impl FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .into_iter()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| $error(s.to_owned()))
            }
        }
    };
}

text_enum! {
    /// What kind of non-human identity: the prefix of its id (`agent:...`, `service:...`).
    IdentityKind, UnknownIdentityKind, "unknown identity kind `{0}`: expected `agent` or `service`" {
        /// An AI agent asking for decisions about its tool calls.
        Agent => "agent",
        /// A service (gateway, forwarder) acting on agents' behalf.
        Service => "service",
    }
}

text_enum! {
    /// Where an identity was declared.
    IdentityOrigin, UnknownIdentityOrigin,
    "unknown identity origin `{0}`: expected `bundle` or `runtime`" {
        /// In the policy bundle; bundle activation keeps it in step.
        Bundle => "bundle",
        /// Registered through the API while the server runs.
        Runtime => "runtime",
    }
}

text_enum! {
    /// Where an identity is in its life.
    IdentityState, UnknownIdentityState,
    "unknown identity state `{0}`: expected `pending`, `active`, `suspended` or `decommissioned`" {
        /// Registered, waiting for a human's approval; gets no credentials.
        Pending => "pending",
        /// May obtain credentials and act.
        Active => "active",
        /// Temporarily barred; may be reactivated.
        Suspended => "suspended",
        /// Retired for good: terminal, never left.
        Decommissioned => "decommissioned",
    }
}

/// A non-human identity as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// `agent:NAME` or `service:NAME`; the prefix must match `kind` (the schema enforces it).
    pub id: String,
    /// Agent or service.
    pub kind: IdentityKind,
    /// The agent's class; always `None` for a service (the schema enforces it).
    pub class: Option<String>,
    /// The human accountable for it: a human id of the bundle.
    pub owner: String,
    /// Tool ids it may use; empty means the whole reach of its class.
    pub scopes: Vec<String>,
    /// Where it was declared.
    pub origin: IdentityOrigin,
    /// Where it is in its life.
    pub state: IdentityState,
    /// Why it entered its current state, if anyone said.
    pub state_reason: Option<String>,
    /// When it entered its current state.
    pub state_changed_at_ms: i64,
    /// Who put it in its current state, if anyone did (not for bundle-declared states).
    pub state_changed_by: Option<String>,
    /// Which registration secret is current: starts at 1, each rotation adds 1.
    pub generation: u32,
    /// When it was created.
    pub created_at_ms: i64,
    /// Who created it (a human id, or e.g. `bundle:HASH`).
    pub created_by: String,
    /// When it was approved; set together with `approved_by`.
    pub approved_at_ms: Option<i64>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When it last acted, as flushed by [`Store::touch_identities`].
    pub last_used_at_ms: Option<i64>,
    /// When its owner last confirmed it is still needed; set together with `reviewed_by`.
    pub last_reviewed_at_ms: Option<i64>,
    /// Who last reviewed it.
    pub reviewed_by: Option<String>,
    /// When its registration secret was last issued (initially `created_at_ms`) or rotated.
    pub secret_rotated_at_ms: i64,
}

/// A short-lived credential issued to an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// Its unique id (the JWT `jti`).
    pub jti: String,
    /// The identity it was issued to; must exist.
    pub identity: String,
    /// The credential it was delegated from, if any.
    pub parent_jti: Option<String>,
    /// The delegate acting with it, if delegated.
    pub actor: Option<String>,
    /// Tool ids it is good for.
    pub scopes: Vec<String>,
    /// Who it is for.
    pub audience: String,
    /// The identity's generation when it was issued.
    pub generation: u32,
    /// When it was issued.
    pub issued_at_ms: i64,
    /// When it stops being valid (valid while now < this); after `issued_at_ms`.
    pub expires_at_ms: i64,
    /// When it was revoked, if it was; set together with `revoked_reason`.
    pub revoked_at_ms: Option<i64>,
    /// Why: `rotated`, or the reason given to a revocation.
    pub revoked_reason: Option<String>,
}

/// The columns every read of `identities` selects, in [`IdentityRow`]'s order.
macro_rules! identity_columns {
    () => {
        "id, kind, class, owner, scopes, origin, state, state_reason, state_changed_at_ms,
         state_changed_by, generation, created_at_ms, created_by, approved_at_ms, approved_by,
         last_used_at_ms, last_reviewed_at_ms, reviewed_by, secret_rotated_at_ms"
    };
}

/// The columns every read of `credentials` selects, in [`CredentialRow`]'s order.
macro_rules! credential_columns {
    () => {
        "jti, identity, parent_jti, actor, scopes, audience, generation, issued_at_ms,
         expires_at_ms, revoked_at_ms, revoked_reason"
    };
}

/// Revokes (at `$1`, for reason `$2`) every unrevoked credential matching `$seed` and every
/// credential delegated from one, however deep. INVARIANT(revocation-cascades): every
/// revocation goes through this statement. `UNION` (not `UNION ALL`) ends the walk even on a
/// hand-made cycle of `parent_jti`s.
macro_rules! revoke_tree {
    ($seed:literal) => {
        concat!(
            "WITH RECURSIVE tree (jti) AS (
                 SELECT jti FROM credentials WHERE ",
            $seed,
            "
                 UNION
                 SELECT c.jti FROM credentials c JOIN tree ON c.parent_jti = tree.jti
             )
             UPDATE credentials SET revoked_at_ms = $1, revoked_reason = $2
             WHERE revoked_at_ms IS NULL AND jti IN (SELECT jti FROM tree)"
        )
    };
}

/// An `identities` row as stored.
#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: String,
    kind: String,
    class: Option<String>,
    owner: String,
    scopes: String,
    origin: String,
    state: String,
    state_reason: Option<String>,
    state_changed_at_ms: i64,
    state_changed_by: Option<String>,
    generation: i64,
    created_at_ms: i64,
    created_by: String,
    approved_at_ms: Option<i64>,
    approved_by: Option<String>,
    last_used_at_ms: Option<i64>,
    last_reviewed_at_ms: Option<i64>,
    reviewed_by: Option<String>,
    secret_rotated_at_ms: i64,
}

impl TryFrom<IdentityRow> for IdentityRecord {
    type Error = StoreError;

    fn try_from(row: IdentityRow) -> Result<Self, StoreError> {
        let corrupt = |column| StoreError::Corrupt {
            entity: Entity::Identity,
            key: row.id.clone(),
            column,
        };
        let kind = row.kind.parse().map_err(|_| corrupt("kind"))?;
        let origin = row.origin.parse().map_err(|_| corrupt("origin"))?;
        let state = row.state.parse().map_err(|_| corrupt("state"))?;
        let generation = u32::try_from(row.generation).map_err(|_| corrupt("generation"))?;
        let scopes = parse_scopes(&row.scopes, Entity::Identity, &row.id)?;
        Ok(IdentityRecord {
            id: row.id,
            kind,
            class: row.class,
            owner: row.owner,
            scopes,
            origin,
            state,
            state_reason: row.state_reason,
            state_changed_at_ms: row.state_changed_at_ms,
            state_changed_by: row.state_changed_by,
            generation,
            created_at_ms: row.created_at_ms,
            created_by: row.created_by,
            approved_at_ms: row.approved_at_ms,
            approved_by: row.approved_by,
            last_used_at_ms: row.last_used_at_ms,
            last_reviewed_at_ms: row.last_reviewed_at_ms,
            reviewed_by: row.reviewed_by,
            secret_rotated_at_ms: row.secret_rotated_at_ms,
        })
    }
}

/// A `credentials` row as stored.
#[derive(sqlx::FromRow)]
struct CredentialRow {
    jti: String,
    identity: String,
    parent_jti: Option<String>,
    actor: Option<String>,
    scopes: String,
    audience: String,
    generation: i64,
    issued_at_ms: i64,
    expires_at_ms: i64,
    revoked_at_ms: Option<i64>,
    revoked_reason: Option<String>,
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = StoreError;

    fn try_from(row: CredentialRow) -> Result<Self, StoreError> {
        let generation = u32::try_from(row.generation).map_err(|_| StoreError::Corrupt {
            entity: Entity::Credential,
            key: row.jti.clone(),
            column: "generation",
        })?;
        let scopes = parse_scopes(&row.scopes, Entity::Credential, &row.jti)?;
        Ok(CredentialRecord {
            jti: row.jti,
            identity: row.identity,
            parent_jti: row.parent_jti,
            actor: row.actor,
            scopes,
            audience: row.audience,
            generation,
            issued_at_ms: row.issued_at_ms,
            expires_at_ms: row.expires_at_ms,
            revoked_at_ms: row.revoked_at_ms,
            revoked_reason: row.revoked_reason,
        })
    }
}

/// Scopes as the JSON array text stored in the `scopes` columns.
fn scopes_json(scopes: &[String]) -> String {
    serde_json::Value::from(scopes).to_string()
}

fn parse_scopes(text: &str, entity: Entity, key: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::CorruptJson {
        entity,
        key: key.to_owned(),
        source,
    })
}

fn identity(row: Option<IdentityRow>) -> Result<Option<IdentityRecord>, StoreError> {
    row.map(IdentityRecord::try_from).transpose()
}

/// The identity changes the server commits in the same transaction as their ledger entry
/// ([`crate::SideRecord::Writes`]). Each one meant as a guard changes exactly one row when the
/// change applies and none when the identity moved on, so `Writes::guarded(w, 1, ...)` turns a
/// lost race into [`crate::Appended::Stale`].
impl Store {
    /// Inserts `record` if its id is free (as given, origin included); changes no row if it is
    /// taken.
    pub fn insert_identity_write(record: &IdentityRecord) -> Write {
        Write::new(concat!(
            "INSERT INTO identities (",
            identity_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                       $18, $19) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&record.id)
        .bind(record.kind.as_str())
        .bind(&record.class)
        .bind(&record.owner)
        .bind(scopes_json(&record.scopes))
        .bind(record.origin.as_str())
        .bind(record.state.as_str())
        .bind(&record.state_reason)
        .bind(record.state_changed_at_ms)
        .bind(&record.state_changed_by)
        .bind(i64::from(record.generation))
        .bind(record.created_at_ms)
        .bind(&record.created_by)
        .bind(record.approved_at_ms)
        .bind(&record.approved_by)
        .bind(record.last_used_at_ms)
        .bind(record.last_reviewed_at_ms)
        .bind(&record.reviewed_by)
        .bind(record.secret_rotated_at_ms)
    }

    /// Brings an existing identity's class, owner and scopes in step with the bundle's `record`
    /// and marks it bundle-declared; changes no row if it is decommissioned or already so. Its
    /// state, generation and timestamps are never touched.
    pub fn sync_identity_write(record: &IdentityRecord) -> Write {
        Write::new(
            "UPDATE identities SET class = $2, owner = $3, scopes = $4, origin = 'bundle'
             WHERE id = $1 AND state <> 'decommissioned'
               AND (class IS DISTINCT FROM $2 OR owner <> $3 OR scopes <> $4 OR origin <> 'bundle')",
        )
        .bind(&record.id)
        .bind(&record.class)
        .bind(&record.owner)
        .bind(scopes_json(&record.scopes))
    }

    /// Moves identity `id` to `to` if it is in one of `expected_from` (never out of
    /// `decommissioned`, even if `expected_from` lists it), recording why, who and when.
    pub fn identity_state_write(
        id: &str,
        expected_from: &[IdentityState],
        to: IdentityState,
        reason: Option<&str>,
        by: &str,
        at_ms: i64,
    ) -> Write {
        let allowed = IdentityState::ALL.map(|state| expected_from.contains(&state).then(|| state.as_str()));
        let [first, second, third, fourth] = allowed;
        Write::new(
            "UPDATE identities
             SET state = $2, state_reason = $3, state_changed_by = $4, state_changed_at_ms = $5
             WHERE id = $1 AND state <> 'decommissioned' AND state IN ($6, $7, $8, $9)",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(at_ms)
        .bind(first)
        .bind(second)
        .bind(third)
        .bind(fourth)
    }

    /// Approves pending identity `id`: it becomes active, approved by `by` at `at_ms`, and its
    /// state reason is cleared. Changes no row unless it is pending.
    pub fn approve_identity_write(id: &str, by: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE identities
             SET state = 'active', state_reason = NULL, state_changed_by = $2,
                 state_changed_at_ms = $3, approved_by = $2, approved_at_ms = $3
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(by)
        .bind(at_ms)
    }

    /// Records that `by` reviewed identity `id` at `at_ms` (confirmed it is still needed).
    /// Changes no row if it is decommissioned.
    pub fn review_identity_write(id: &str, by: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE identities SET reviewed_by = $2, last_reviewed_at_ms = $3
             WHERE id = $1 AND state <> 'decommissioned'",
        )
        .bind(id)
        .bind(by)
        .bind(at_ms)
    }

    /// Moves identity `id` from generation `from_generation` to the next one at `at_ms`, if it
    /// is active or suspended and still at that generation. A pending identity has no
    /// registration secret to rotate (it gets one on approval).
    pub fn rotate_identity_write(id: &str, from_generation: u32, at_ms: i64) -> Write {
        Write::new(
            "UPDATE identities SET generation = generation + 1, secret_rotated_at_ms = $2
             WHERE id = $1 AND generation = $3 AND state IN ('active', 'suspended')",
        )
        .bind(id)
        .bind(at_ms)
        .bind(i64::from(from_generation))
    }

    /// Revokes, with reason `rotated`, identity `id`'s credentials older than `generation` that
    /// are neither expired nor revoked at `at_ms`, and everything delegated from them.
    pub fn revoke_rotated_credentials_write(id: &str, generation: u32, at_ms: i64) -> Write {
        Write::new(revoke_tree!(
            "identity = $3 AND generation < $4 AND revoked_at_ms IS NULL AND expires_at_ms > $1"
        ))
        .bind(at_ms)
        .bind("rotated")
        .bind(id)
        .bind(i64::from(generation))
    }

    /// Records an issued credential (its identity must exist, its jti must be new).
    pub fn insert_credential_write(record: &CredentialRecord) -> Write {
        Write::new(concat!(
            "INSERT INTO credentials (",
            credential_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&record.jti)
        .bind(&record.identity)
        .bind(&record.parent_jti)
        .bind(&record.actor)
        .bind(scopes_json(&record.scopes))
        .bind(&record.audience)
        .bind(i64::from(record.generation))
        .bind(record.issued_at_ms)
        .bind(record.expires_at_ms)
        .bind(record.revoked_at_ms)
        .bind(&record.revoked_reason)
    }

    /// Revokes credential `jti` and everything delegated from it, however deep, at `at_ms` for
    /// `reason`; an earlier revocation keeps its time and reason.
    pub fn revoke_credential_write(jti: &str, reason: &str, at_ms: i64) -> Write {
        Write::new(revoke_tree!("jti = $3"))
            .bind(at_ms)
            .bind(reason)
            .bind(jti)
    }

    /// Revokes every unrevoked credential of `identity` and everything delegated from them
    /// (decommissioning does this); an earlier revocation keeps its time and reason.
    pub fn revoke_identity_credentials_write(identity: &str, reason: &str, at_ms: i64) -> Write {
        Write::new(revoke_tree!("identity = $3"))
            .bind(at_ms)
            .bind(reason)
            .bind(identity)
    }
}

impl Store {
    /// The identity `id`, if any, whatever its state.
    pub async fn identity(&self, id: &str) -> Result<Option<IdentityRecord>, StoreError> {
        let row: Option<IdentityRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", identity_columns!(), " FROM identities WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        identity(row)
    }

    /// Every identity, decommissioned ones included, ordered by id.
    pub async fn identities(&self) -> Result<Vec<IdentityRecord>, StoreError> {
        let rows: Vec<IdentityRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", identity_columns!(), " FROM identities ORDER BY id"))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(IdentityRecord::try_from).collect()
    }

    /// Raises each identity's `last_used_at_ms` to the time given, in one transaction; a time
    /// older than the stored one changes nothing, and unknown ids are skipped.
    pub async fn touch_identities(&self, last_used: &[(String, i64)]) -> Result<(), StoreError> {
        if last_used.is_empty() {
            return Ok(());
        }
        // Rows are locked in id order, so two servers flushing at once cannot deadlock.
        let mut sorted: Vec<&(String, i64)> = last_used.iter().collect();
        sorted.sort();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (id, at_ms) in &sorted {
                sqlx::query(
                    "UPDATE identities SET last_used_at_ms = $2
                     WHERE id = $1 AND (last_used_at_ms IS NULL OR last_used_at_ms < $2)",
                )
                .bind(id)
                .bind(*at_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The credential `jti`, if any, revoked or expired or not: the caller checks.
    pub async fn credential(&self, jti: &str) -> Result<Option<CredentialRecord>, StoreError> {
        let row: Option<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", credential_columns!(), " FROM credentials WHERE jti = $1"))
                .bind(jti)
                .fetch_optional(pool)
                .await?
        });
        row.map(CredentialRecord::try_from).transpose()
    }

    /// The credentials of `identity`, revoked ones included, oldest first; those expired at
    /// `now_ms` (`expires_at_ms <= now_ms`) only if `include_expired`.
    pub async fn credentials_of(
        &self,
        identity: &str,
        include_expired: bool,
        now_ms: i64,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows: Vec<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                credential_columns!(),
                " FROM credentials WHERE identity = $1 AND ($2 OR expires_at_ms > $3)
                 ORDER BY issued_at_ms, jti"
            ))
            .bind(identity)
            .bind(include_expired)
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(CredentialRecord::try_from).collect()
    }

    /// The `(jti, expires_at_ms)` of every revoked credential not yet expired at `now_ms`,
    /// soonest to expire first: the revocation list the server keeps in memory.
    pub async fn revoked_credentials_since(&self, now_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT jti, expires_at_ms FROM credentials
                 WHERE revoked_at_ms IS NOT NULL AND expires_at_ms > $1
                 ORDER BY expires_at_ms, jti",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Deletes the credentials that expired before `before_ms` (`expires_at_ms < before_ms`),
    /// revoked or not. Returns how many.
    pub async fn purge_expired_credentials(&self, before_ms: i64) -> Result<u64, StoreError> {
        let purged = with_pool!(self, pool => {
            sqlx::query("DELETE FROM credentials WHERE expires_at_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(purged)
    }
}

// Incident containment

impl IdentityRecord {
    /// Contains identity `id` for an incident (with its `credentials_revoked` entry): every
    /// credential issued to it, and everything delegated from those, revoked for `reason`, and
    /// the identity suspended (an already suspended one takes the incident's reason, so nothing
    /// that lifts suspensions of its own kind, a review or a bundle sync, lifts this one), so
    /// neither its registration secret nor its token decides or mints a new credential until a
    /// human reinstates it.
    pub fn containment_writes(id: &str, reason: &str, by: &str, at_ms: i64) -> Vec<crate::writes::Write> {
        vec![
            crate::writes::Write::new(revoke_tree!("identity = $3"))
                .bind(at_ms)
                .bind(reason)
                .bind(id),
            crate::writes::Write::new(
                "UPDATE identities
                 SET state = 'suspended', state_reason = $1, state_changed_by = $2, state_changed_at_ms = $3
                 WHERE id = $4 AND state IN ('active', 'suspended')",
            )
            .bind(reason)
            .bind(by)
            .bind(at_ms)
            .bind(id),
        ]
    }
}
