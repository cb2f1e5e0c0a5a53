//! Non-human identities at run time: the registry every decision consults, the credentials
//! Tribune issues, and the lifecycle rules the bundle declares.
//!
//! INVARIANT(revoke-before-answer): a revocation, suspension, rotation or decommission is in
//! this node's in-memory view before the command that made it is answered, and the view is
//! consulted on every decision after the credential cache, so no cached credential outlives
//! it. Other replicas read the store every [`crate::stops::POLL`]; a failed read keeps the
//! view they have.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tribune_bundle::{Agent, Bundle, Id, Lifecycle, Service};
use tribune_identity::{Claims, IdentityFacts, Issuer, Verifier};
use tribune_policy::{Code, PrincipalKind};
use tribune_store::{
    IdentityKind, IdentityOrigin, IdentityRecord, IdentityState, SideRecord, Store, StoreError, Writes,
};

/// What the caller presented to authenticate as an agent or service.
#[derive(Clone, Debug)]
pub enum Presented {
    /// A registration secret (a `trb_` token).
    Secret,
    /// A short-lived credential, verified.
    Credential(Arc<Claims>),
}

/// The registry as this node sees it: every identity, and the revoked credentials that have
/// not expired yet.
#[derive(Debug, Default)]
pub struct View {
    records: HashMap<String, IdentityRecord>,
    revoked: HashMap<String, i64>,
}

impl View {
    /// The identity `id` (`agent:NAME` or `service:NAME`).
    pub fn get(&self, id: &str) -> Option<&IdentityRecord> {
        self.records.get(id)
    }

    /// Runtime-registered identities that may still act or come back (not decommissioned).
    pub fn runtime(&self) -> impl Iterator<Item = &IdentityRecord> {
        self.records
            .values()
            .filter(|r| r.origin == IdentityOrigin::Runtime && r.state != IdentityState::Decommissioned)
    }

    fn runtime_key(&self) -> Vec<(String, Option<String>, String, Vec<String>)> {
        let mut key: Vec<_> = self
            .runtime()
            .map(|r| (r.id.clone(), r.class.clone(), r.owner.clone(), r.scopes.clone()))
            .collect();
        key.sort();
        key
    }
}

/// The identity subsystem of one node.
pub struct Identities {
    issuer: Issuer,
    verifier: ArcSwap<Verifier>,
    view: ArcSwap<View>,
    last_used: dashmap::DashMap<String, i64>,
    oidc: ArcSwap<Option<Arc<OidcHumans>>>,
    /// Held from reading the store to installing the view, so a refresh that read before a
    /// change never installs its older view after one that read after it
    /// (INVARIANT(revoke-before-answer)).
    refresh_lock: tokio::sync::Mutex<()>,
}

/// Humans signing in with an identity provider's ID tokens (`[oidc]`).
///
/// Keys from a `jwks_url` are fetched again when a token names a `kid` the set does not hold
/// (at most once per [`JWKS_REFETCH_MIN`], so unknown `kid`s cannot make Tribune hammer the
/// provider) and every [`JWKS_REFRESH`], so a provider's key rotation is picked up without a
/// reload. A failed fetch keeps the keys there are.
pub struct OidcHumans {
    verifier: ArcSwap<tribune_identity::OidcVerifier>,
    oidc: tribune_bundle::Oidc,
    /// When the keys were last fetched from the URL.
    fetched: tokio::sync::Mutex<Fetched>,
}

/// When a `jwks_url` was last fetched, for any reason and for an unknown `kid`.
#[derive(Default)]
struct Fetched {
    last: Option<std::time::Instant>,
    for_unknown_kid: Option<std::time::Instant>,
}

/// The least time between two fetches of a `jwks_url` for unknown `kid`s.
pub const JWKS_REFETCH_MIN: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a `jwks_url` is fetched again, whatever the tokens say.
pub const JWKS_REFRESH: std::time::Duration = std::time::Duration::from_secs(600);

impl OidcHumans {
    /// The human `token` names, if it verifies and its claim matches a declared human's
    /// `email` or id. A claim `email` counts only with `email_verified: true`: an address the
    /// provider never verified names nobody.
    pub async fn caller(
        &self,
        token: &str,
        now_secs: i64,
        snapshot: &tribune_policy::Snapshot,
    ) -> Result<crate::auth::Caller, crate::error::ApiError> {
        use crate::error::ApiError;
        self.refetch(false).await;
        let mut verified = self.verifier.load().verify(token, now_secs);
        if matches!(verified, Err(tribune_identity::OidcError::UnknownKey { .. })) {
            // Whether this call fetched or waited for one that did, the newest keys decide.
            self.refetch(true).await;
            verified = self.verifier.load().verify(token, now_secs);
        }
        let claims = verified.map_err(|e| ApiError::Oidc(format!("the ID token does not verify: {e}")))?;
        let claim = &self.oidc.claim;
        let value = claims
            .get(claim)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ApiError::Oidc(format!("the ID token has no string claim `{claim}`")))?;
        if claim == "email" && claims.get("email_verified") != Some(&serde_json::Value::Bool(true)) {
            return Err(ApiError::Oidc(
                "the ID token's `email` is not verified by the provider (`email_verified` is not `true`)"
                    .to_owned(),
            ));
        }
        let humans = &snapshot.bundle().humans;
        humans
            .values()
            .find(|h| h.email.as_deref() == Some(value))
            .or_else(|| humans.get(value))
            .map(|h| crate::auth::Caller::Human(h.id.to_string()))
            .ok_or_else(|| ApiError::Oidc(format!("no declared human matches `{claim}` = `{value}`")))
    }

    /// Fetches a `jwks_url` again when it is due: for an unknown `kid`, unless another
    /// unknown `kid` made a fetch in the last [`JWKS_REFETCH_MIN`]; otherwise once the keys
    /// are [`JWKS_REFRESH`] old. Concurrent callers wait for one fetch rather than each making
    /// their own.
    async fn refetch(&self, unknown_kid: bool) {
        let tribune_bundle::JwksSource::Url(url) = &self.oidc.jwks else {
            return;
        };
        let mut fetched = self.fetched.lock().await;
        let due = if unknown_kid {
            fetched
                .for_unknown_kid
                .is_none_or(|at| at.elapsed() >= JWKS_REFETCH_MIN)
        } else {
            fetched.last.is_none_or(|at| at.elapsed() >= JWKS_REFRESH)
        };
        if !due {
            return;
        }
        let now = std::time::Instant::now();
        fetched.last = Some(now);
        if unknown_kid {
            fetched.for_unknown_kid = Some(now);
        }
        match fetch_jwks(url)
            .await
            .and_then(|jwks| verifier_of(&jwks, &self.oidc))
        {
            Ok(verifier) => self.verifier.store(Arc::new(verifier)),
            Err(e) => {
                tracing::warn!(error = %e, "refetching the `[oidc]` keys failed; keeping the keys there are");
            }
        }
    }
}

async fn fetch_jwks(url: &str) -> Result<serde_json::Value, String> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("cannot fetch `[oidc] jwks_url` `{url}`: {e}"))?;
    response
        .json()
        .await
        .map_err(|e| format!("`[oidc] jwks_url` `{url}` did not answer JSON: {e}"))
}

fn verifier_of(
    jwks: &serde_json::Value,
    oidc: &tribune_bundle::Oidc,
) -> Result<tribune_identity::OidcVerifier, String> {
    tribune_identity::OidcVerifier::new(jwks, oidc.issuer.clone(), oidc.audience.clone())
        .map_err(|e| format!("the `[oidc]` keys are unusable: {e}"))
}

/// Reads the identity provider's keys the bundle names: a file in the bundle directory or a
/// URL.
pub async fn load_oidc(
    oidc: &tribune_bundle::Oidc,
    bundle_dir: &std::path::Path,
) -> Result<OidcHumans, String> {
    let jwks: serde_json::Value = match &oidc.jwks {
        tribune_bundle::JwksSource::File(path) => {
            let path = bundle_dir.join(path);
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| format!("cannot read `[oidc] jwks_file` `{}`: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("`[oidc] jwks_file` is not JSON: {e}"))?
        }
        tribune_bundle::JwksSource::Url(url) => fetch_jwks(url).await?,
    };
    Ok(OidcHumans {
        verifier: ArcSwap::from_pointee(verifier_of(&jwks, oidc)?),
        oidc: oidc.clone(),
        fetched: tokio::sync::Mutex::new(Fetched {
            last: Some(std::time::Instant::now()),
            for_unknown_kid: None,
        }),
    })
}

/// The registry id of an agent or service: `agent:NAME` or `service:NAME`.
pub fn registry_id(kind: PrincipalKind, name: &str) -> String {
    format!("{}:{name}", kind.as_str())
}

impl Identities {
    /// The subsystem, signing with `seed` as issuer `issuer`, verifying for `audience`, with
    /// the registry read from `store`.
    pub async fn load(
        store: &Store,
        seed: [u8; 32],
        issuer: &str,
        audience: &str,
    ) -> Result<Identities, StoreError> {
        let issuer = Issuer::from_seed(seed, issuer);
        let verifier = issuer.verifier(audience);
        let identities = Identities {
            issuer,
            verifier: ArcSwap::from_pointee(verifier),
            view: ArcSwap::from_pointee(View::default()),
            last_used: dashmap::DashMap::new(),
            oidc: ArcSwap::from_pointee(None),
            refresh_lock: tokio::sync::Mutex::new(()),
        };
        identities.refresh(store).await?;
        Ok(identities)
    }

    /// The signer of credentials.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The verifier of credentials for the active bundle's audience.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.load_full()
    }

    /// Makes `audience` the one credentials are verified for (a new bundle may change it).
    pub fn set_audience(&self, audience: &str) {
        if self.verifier.load().audience() != audience {
            self.verifier.store(Arc::new(self.issuer.verifier(audience)));
        }
    }

    /// The identity provider humans may sign in with, if the bundle configures one.
    pub fn oidc(&self) -> Option<Arc<OidcHumans>> {
        self.oidc.load().as_ref().clone()
    }

    /// Sets (or clears) the identity provider.
    pub fn set_oidc(&self, oidc: Option<OidcHumans>) {
        self.oidc.store(Arc::new(oidc.map(Arc::new)));
    }

    /// The registry as this node sees it.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// Reads the registry from `store` again. Returns whether the set of runtime identities
    /// changed (so the snapshot must be rebuilt to know them).
    ///
    /// Refreshes run one at a time: the poller's and those publishing a change are serialised,
    /// so the last view installed is always the one read last.
    pub async fn refresh(&self, store: &Store) -> Result<bool, StoreError> {
        let _serial = self.refresh_lock.lock().await;
        let now = crate::state::now_ms();
        let records = store.identities().await?;
        let revoked = store.revoked_credentials_since(now).await?;
        let view = View {
            records: records.into_iter().map(|r| (r.id.clone(), r)).collect(),
            revoked: revoked.into_iter().collect(),
        };
        let changed = view.runtime_key() != self.view.load().runtime_key();
        self.view.store(Arc::new(view));
        Ok(changed)
    }

    /// Notes that `id` acted at `now_ms`; flushed to the store by [`Identities::flush_last_used`].
    pub fn touch(&self, id: &str, now_ms: i64) {
        match self.last_used.get_mut(id) {
            Some(mut at) => *at = (*at).max(now_ms),
            None => {
                self.last_used.insert(id.to_owned(), now_ms);
            }
        }
    }

    /// Writes the last-use times gathered since the previous flush.
    pub async fn flush_last_used(&self, store: &Store) -> Result<(), StoreError> {
        let ids: Vec<String> = self.last_used.iter().map(|e| e.key().clone()).collect();
        let batch: Vec<(String, i64)> = ids
            .into_iter()
            .filter_map(|id| self.last_used.remove(&id))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        store.touch_identities(&batch).await
    }

    /// Why the registry refuses a call by `kind`/`name` that presented `presented`, if it does.
    pub fn refusal(
        &self,
        kind: PrincipalKind,
        name: &str,
        presented: Option<&Presented>,
        bundle: &Bundle,
        now_ms: i64,
    ) -> Option<(Code, String)> {
        let id = registry_id(kind, name);
        let view = self.view.load();
        let Some(record) = view.get(&id) else {
            // Declared but not registered cannot happen once activation synced the registry;
            // should it, fail closed. Undeclared principals are the request stage's to deny.
            let declared = match kind {
                PrincipalKind::Agent => bundle.agents.contains_key(name),
                PrincipalKind::Service => bundle.services.contains_key(name),
            };
            return declared.then(|| {
                (
                    Code::UnknownPrincipal,
                    format!("`{id}` is not in the identity registry"),
                )
            });
        };
        // A bundle-declared identity the active bundle no longer declares (suspended as
        // removed from it) is the request stage's to deny, as an unknown principal.
        let declared = match kind {
            PrincipalKind::Agent => bundle.agents.contains_key(name),
            PrincipalKind::Service => bundle.services.contains_key(name),
        };
        if record.origin == IdentityOrigin::Bundle && !declared {
            return None;
        }
        let because = |r: &IdentityRecord| {
            r.state_reason
                .as_ref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        };
        match record.state {
            IdentityState::Active => {}
            IdentityState::Pending => {
                return Some((Code::IdentityPending, format!("`{id}` awaits a human's approval")));
            }
            IdentityState::Suspended => {
                return Some((
                    Code::IdentitySuspended,
                    format!("`{id}` is suspended{}", because(record)),
                ));
            }
            IdentityState::Decommissioned => {
                return Some((
                    Code::IdentityDecommissioned,
                    format!("`{id}` is decommissioned{}", because(record)),
                ));
            }
        }
        match presented {
            None => None,
            Some(Presented::Secret) => {
                // A secret past its rotation grace is refused for everything, exchanging it for
                // a credential included, whatever `require_credentials` says.
                if let Some(refusal) = rotation_refusal(record, bundle, now_ms) {
                    return Some(refusal);
                }
                if bundle.identities.require_credentials {
                    return Some((
                        Code::CredentialRequired,
                        "this deployment accepts only short-lived credentials (`POST /v1/credentials`), not registration secrets".to_owned(),
                    ));
                }
                None
            }
            Some(Presented::Credential(claims)) => {
                if claims.generation < record.generation {
                    return Some((
                        Code::CredentialRotated,
                        format!(
                            "the credential was issued before `{id}`'s secret was rotated (generation {} < {})",
                            claims.generation, record.generation
                        ),
                    ));
                }
                if let Some(jti) = std::iter::once(&claims.jti)
                    .chain(&claims.anc)
                    .find(|jti| view.revoked.contains_key(jti.as_str()))
                {
                    let whose = if *jti == claims.jti {
                        "the credential"
                    } else {
                        "a credential it was delegated from"
                    };
                    return Some((Code::CredentialRevoked, format!("{whose} (`{jti}`) was revoked")));
                }
                None
            }
        }
    }
}

/// The refusal of a registration secret past its rotation schedule and grace.
pub fn rotation_refusal(record: &IdentityRecord, bundle: &Bundle, now_ms: i64) -> Option<(Code, String)> {
    let policy = lifecycle_of(record, bundle);
    tribune_identity::rotation_expired(&facts(record), &to_policy(&policy), now_ms).then(|| {
        (
            Code::RotationOverdue,
            format!(
                "`{}`'s registration secret is past its rotation schedule ({} days + {} days grace); rotate it",
                record.id,
                policy.rotation_days.unwrap_or(0),
                policy.rotation_grace_days
            ),
        )
    })
}

/// The lifecycle terms that govern `record`: its class's, else the deployment's.
pub fn lifecycle_of(record: &IdentityRecord, bundle: &Bundle) -> Lifecycle {
    record
        .class
        .as_deref()
        .and_then(|c| bundle.classes.get(c))
        .map_or(bundle.identities.lifecycle, |c| c.lifecycle)
}

/// The bundle's lifecycle terms in the identity crate's form.
pub fn to_policy(l: &Lifecycle) -> tribune_identity::Lifecycle {
    tribune_identity::Lifecycle {
        rotation_days: l.rotation_days,
        rotation_grace_days: l.rotation_grace_days,
        review_days: l.review_days,
        review_grace_days: l.review_grace_days,
        stale_days: l.stale_days,
    }
}

/// What a lifecycle audit needs to know about `record`.
pub fn facts(record: &IdentityRecord) -> IdentityFacts {
    IdentityFacts {
        id: record.id.clone(),
        created_at_ms: record.created_at_ms,
        secret_rotated_at_ms: record.secret_rotated_at_ms,
        last_used_at_ms: record.last_used_at_ms,
        last_reviewed_at_ms: record.last_reviewed_at_ms,
    }
}

/// The identity records the bundle declares, as activation `bundle_hash` writes them.
pub fn declared(bundle: &Bundle, now_ms: i64) -> Vec<IdentityRecord> {
    let record =
        |kind: IdentityKind, id: &Id, class: Option<&Id>, owner: &Id, scopes: Option<&[Id]>| IdentityRecord {
            id: format!("{}:{id}", kind.as_str()),
            kind,
            class: class.map(ToString::to_string),
            owner: owner.to_string(),
            scopes: scopes
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect(),
            origin: IdentityOrigin::Bundle,
            state: IdentityState::Active,
            state_reason: None,
            state_changed_at_ms: now_ms,
            state_changed_by: None,
            generation: 1,
            created_at_ms: now_ms,
            created_by: format!("bundle:{}", bundle.hash),
            approved_at_ms: Some(now_ms),
            approved_by: Some(format!("bundle:{}", bundle.hash)),
            last_used_at_ms: None,
            last_reviewed_at_ms: None,
            reviewed_by: None,
            secret_rotated_at_ms: now_ms,
        };
    bundle
        .agents
        .values()
        .map(|a| {
            record(
                IdentityKind::Agent,
                &a.id,
                Some(&a.class),
                &a.owner,
                a.scopes.as_deref(),
            )
        })
        .chain(
            bundle
                .services
                .values()
                .map(|s| record(IdentityKind::Service, &s.id, None, &s.owner, Some(&s.scopes))),
        )
        .collect()
}

/// One change an activation makes to the registry, committed with its ledger entry by
/// [`record_sync`].
#[derive(Clone, Debug)]
pub enum SyncChange {
    /// A newly declared identity.
    Created(IdentityRecord),
    /// A declared identity whose class, owner or scopes changed (or that was runtime-registered
    /// and is now declared).
    Updated(IdentityRecord),
    /// A bundle-declared identity the bundle no longer declares: suspended with reason
    /// [`REMOVED_FROM_BUNDLE`], so neither its secret nor its credentials act any more.
    Removed(String),
    /// An identity suspended because it was removed, declared again: it acts again.
    Restored(String),
}

/// The reason a bundle-declared identity is suspended when a new bundle no longer declares it.
pub const REMOVED_FROM_BUNDLE: &str = "removed from bundle";

/// What activating `bundle` changes in the registry (read only; [`record_sync`] writes it).
pub async fn sync(store: &Store, bundle: &Bundle, now_ms: i64) -> Result<Vec<SyncChange>, StoreError> {
    let existing: HashMap<String, IdentityRecord> = store
        .identities()
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let declared = declared(bundle, now_ms);
    let mut changes = Vec::new();
    for record in &declared {
        match existing.get(&record.id) {
            None => changes.push(SyncChange::Created(record.clone())),
            Some(e) if e.state == IdentityState::Decommissioned => {}
            Some(e) => {
                if e.class != record.class
                    || e.owner != record.owner
                    || e.scopes != record.scopes
                    || e.origin != IdentityOrigin::Bundle
                {
                    changes.push(SyncChange::Updated(record.clone()));
                }
                if e.state == IdentityState::Suspended
                    && e.state_reason.as_deref() == Some(REMOVED_FROM_BUNDLE)
                {
                    changes.push(SyncChange::Restored(e.id.clone()));
                }
            }
        }
    }
    let still: BTreeSet<&str> = declared.iter().map(|r| r.id.as_str()).collect();
    for e in existing.values() {
        if e.origin == IdentityOrigin::Bundle
            && matches!(e.state, IdentityState::Active | IdentityState::Pending)
            && !still.contains(e.id.as_str())
        {
            changes.push(SyncChange::Removed(e.id.clone()));
        }
    }
    Ok(changes)
}

/// `bundle` with the runtime identities of `view` added as agents and services, so that the
/// decision point knows them. An identity whose class, owner or scopes the bundle no longer
/// declares is left out (its calls are denied as unknown), and said so in the log.
pub fn with_runtime(mut bundle: Bundle, view: &View) -> Bundle {
    for r in view.runtime() {
        let Some((_, name)) = r.id.split_once(':') else {
            continue;
        };
        let (Ok(id), Ok(owner)) = (Id::parse(name), Id::parse(&r.owner)) else {
            continue;
        };
        let known = |t: &String| bundle.tools.contains_key(t.as_str());
        let scopes: Option<Vec<Id>> = if r.scopes.iter().all(known) {
            r.scopes.iter().map(|t| Id::parse(t).ok()).collect()
        } else {
            None
        };
        let fits = bundle.humans.contains_key(owner.as_str())
            && scopes.is_some()
            && !bundle.agents.contains_key(id.as_str())
            && !bundle.services.contains_key(id.as_str());
        if !fits {
            tracing::warn!(identity = %r.id, "the runtime identity no longer fits the bundle (owner, scopes or a clash with a declared id); its calls are denied");
            continue;
        }
        let scopes = scopes.unwrap_or_default();
        let location = tribune_bundle::Location {
            file: "<registry>".to_owned(),
            line: 1,
            column: 1,
        };
        match r.kind {
            IdentityKind::Agent => {
                let Some(class) = r.class.as_deref().and_then(|c| Id::parse(c).ok()) else {
                    continue;
                };
                if !bundle.classes.contains_key(class.as_str()) {
                    tracing::warn!(identity = %r.id, class = %class, "the runtime agent's class is no longer declared; its calls are denied");
                    continue;
                }
                bundle.agents.insert(
                    id.clone(),
                    Agent {
                        id,
                        class,
                        owner,
                        scopes: (!scopes.is_empty()).then_some(scopes),
                        description: Some("registered at run time".to_owned()),
                        location,
                    },
                );
            }
            IdentityKind::Service => {
                bundle.services.insert(
                    id.clone(),
                    Service {
                        id,
                        owner,
                        scopes,
                        description: Some("registered at run time".to_owned()),
                        location,
                    },
                );
            }
        }
    }
    bundle
}

/// The tools `kind`/`name` may hold credentials for: its declared scopes, or every tool its
/// class can reach.
pub fn reach(snapshot: &tribune_policy::Snapshot, kind: PrincipalKind, name: &str) -> BTreeSet<String> {
    let bundle = snapshot.bundle();
    let declared = match kind {
        PrincipalKind::Agent => bundle.agents.get(name).and_then(|a| a.scopes.clone()),
        PrincipalKind::Service => bundle.services.get(name).map(|s| s.scopes.clone()),
    };
    match declared {
        Some(scopes) => scopes.iter().map(ToString::to_string).collect(),
        // An undeclared principal reaches nothing.
        None => snapshot
            .reachable_tools(kind, name)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.tool)
            .collect(),
    }
}

/// Commits each change [`sync`] found, each in the same transaction as its ledger entry
/// (`identity_created`, `identity_updated`, `identity_suspended`, `identity_reinstated`). A
/// change another replica made first is skipped: it recorded its own entry.
pub async fn record_sync(
    ledger: &crate::ledger::Ledger,
    bundle: &Bundle,
    changes: &[SyncChange],
    at_ms: i64,
) -> Result<(), StoreError> {
    let by = format!("bundle:{}", bundle.hash);
    for change in changes {
        let (event, id, details, writes) = match change {
            SyncChange::Created(r) => (
                "identity_created",
                &r.id,
                serde_json::json!({ "identity": r.id, "origin": "bundle", "bundle_hash": bundle.hash, "owner": r.owner, "class": r.class, "scopes": r.scopes }),
                Writes::guarded(Store::insert_identity_write(r), 1, Vec::new()),
            ),
            SyncChange::Updated(r) => (
                "identity_updated",
                &r.id,
                serde_json::json!({ "identity": r.id, "origin": "bundle", "bundle_hash": bundle.hash, "owner": r.owner, "class": r.class, "scopes": r.scopes }),
                Writes::guarded(Store::sync_identity_write(r), 1, Vec::new()),
            ),
            SyncChange::Removed(id) => (
                "identity_suspended",
                id,
                serde_json::json!({ "identity": id, "state": "suspended", "reason": REMOVED_FROM_BUNDLE, "bundle_hash": bundle.hash }),
                Writes::guarded(
                    Store::identity_state_write(
                        id,
                        &[IdentityState::Active, IdentityState::Pending],
                        IdentityState::Suspended,
                        Some(REMOVED_FROM_BUNDLE),
                        &by,
                        at_ms,
                    ),
                    1,
                    Vec::new(),
                ),
            ),
            SyncChange::Restored(id) => (
                "identity_reinstated",
                id,
                serde_json::json!({ "identity": id, "state": "active", "reason": "declared in the bundle again", "bundle_hash": bundle.hash }),
                Writes::guarded(
                    Store::identity_state_write(
                        id,
                        &[IdentityState::Suspended],
                        IdentityState::Active,
                        None,
                        &by,
                        at_ms,
                    ),
                    1,
                    Vec::new(),
                ),
            ),
        };
        let value = crate::ocsf::event(
            event,
            3,
            &format!("{event}/{id}/{at_ms}"),
            "tribune",
            None,
            details,
            at_ms,
        );
        ledger
            .record_event("identity", value, at_ms, SideRecord::Writes(writes))
            .await?;
    }
    Ok(())
}

/// The reason an identity is suspended when its review lapsed; a review lifts it.
pub const REVIEW_LAPSED: &str = "review overdue past its grace period";

/// Suspends every active identity past its review deadline and grace, and records each
/// suspension. Runs on every node; the conditional update lets one of them win.
pub async fn suspend_unreviewed(state: &crate::state::AppState, now_ms: i64) -> Result<usize, StoreError> {
    let bundle = state.snapshot().bundle().clone();
    let view = state.identities.view();
    let mut suspended = 0;
    for record in view.records.values().filter(|r| r.state == IdentityState::Active) {
        let policy = to_policy(&lifecycle_of(record, &bundle));
        let overdue = tribune_identity::audit(&facts(record), &policy, now_ms)
            .into_iter()
            .any(|f| f.kind == tribune_identity::FindingKind::ReviewExpired);
        if !overdue {
            continue;
        }
        let reason = REVIEW_LAPSED;
        let details = serde_json::json!({ "identity": record.id, "reason": reason, "state": "suspended" });
        let value = crate::ocsf::event(
            "identity_suspended",
            3,
            &format!("identity_suspended/{}/{now_ms}", record.id),
            "tribune",
            None,
            details,
            now_ms,
        );
        let change = Store::identity_state_write(
            &record.id,
            &[IdentityState::Active],
            IdentityState::Suspended,
            Some(reason),
            "tribune",
            now_ms,
        );
        // Another node that suspended it first recorded its own entry: this one is stale.
        let appended = state
            .ledger
            .record_event(
                "identity",
                value,
                now_ms,
                SideRecord::Writes(Writes::guarded(change, 1, Vec::new())),
            )
            .await?;
        if matches!(appended, tribune_store::Appended::Entry { .. }) {
            suspended += 1;
        }
    }
    if suspended > 0 {
        state.identities.refresh(&state.store).await?;
    }
    Ok(suspended)
}

/// One tick of the poller: read the registry other replicas changed (rebuilding the snapshot
/// when runtime identities came or went), and every [`LIFECYCLE_TICKS`] ticks flush last-use
/// times and suspend identities whose review lapsed.
pub async fn poll(state: &crate::state::AppState, tick: u64) {
    match state.identities.refresh(&state.store).await {
        Ok(true) => {
            if let Err(e) = state.rebuild_for_registry().await {
                tracing::warn!(error = %e, "rebuilding the snapshot for changed runtime identities failed");
            }
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "reading the identity registry failed; keeping the view this node has")
        }
    }
    if tick.is_multiple_of(LIFECYCLE_TICKS) {
        if let Err(e) = state.identities.flush_last_used(&state.store).await {
            tracing::warn!(error = %e, "recording when identities were last used failed");
        }
        if let Err(e) = suspend_unreviewed(state, crate::state::now_ms()).await {
            tracing::warn!(error = %e, "suspending identities whose review lapsed failed");
        }
    }
}

/// Poller ticks between lifecycle passes (at 250 ms a tick: every 15 s).
pub const LIFECYCLE_TICKS: u64 = 60;
