//! Trust scores at run time: the scores every decision reads, the events that move them, and
//! the record of each score crossing a threshold.
//!
//! The history is the `trust_events` table; this node keeps, per subject, the running
//! deviation from the baseline ([`Accumulator`]), rebuilt from the table at startup (and when a
//! new bundle changes the half-life) and kept current by a poller that reads the rows other
//! replicas add, in `seq` order, every [`crate::stops::POLL`]. A row this node writes is applied
//! at once, so the next decision on this node sees it.
//!
//! Allowed calls are counted in memory (the decision path writes no row for them) and written
//! as one `allowed ×N` row per subject every [`FLUSH_TICKS`] polls; until then they count in
//! this node's scores only. A forbid hit, a data-governance denial or hold, and a human's
//! refusal of a held call are written before the call that caused them is answered.
//!
//! A score crossing a threshold (into or out of `review` or `blocked`, by an event or by decay)
//! is a ledger entry of class `trust`. The band each subject was last recorded in is kept in
//! `trust_bands` and changed by compare-and-set, so one replica records each crossing.
//! An event that lowers an agent's or service's score is shown to the bundle's incident
//! triggers (`trust_below`, through `crate::incidents::trust_observed`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tribune_bundle::Bundle;
use tribune_policy::trust::{Accumulator, Band, score};
use tribune_policy::{Code, Decision, Outcome, PrincipalKind, Snapshot, TrustScores};
use tribune_store::{Appended, SideRecord, Store, StoreError, TrustBandRecord, TrustEventRecord, Writes};

use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Events older than this many half-lives are left out of a score (they weigh under 2^-64).
pub const HISTORY_HALF_LIVES: u64 = 64;

/// Polls between writes of the allowed calls counted in memory (at 250 ms a poll: 5 s).
pub const FLUSH_TICKS: u64 = 20;

/// How long a gap in `seq` is waited for (a row another replica has not committed yet) before
/// it is taken for a rolled-back insert.
const HOLE_TTL_MS: i64 = 30_000;

/// The most gaps tracked at once.
const MAX_HOLES: usize = 4096;

/// Rows read per query while catching up.
const POLL_BATCH: u32 = 10_000;

/// What moved a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Calls allowed.
    Allowed,
    /// A call denied by a `forbid` rule.
    Forbidden,
    /// A call denied or held by data governance.
    Dlp,
    /// A human denied a held call.
    ApprovalRefused,
    /// A red-team scenario failed against the subject.
    RedteamFailure,
    /// An incident was opened against the subject.
    Incident,
}

impl EventKind {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Allowed => "allowed",
            EventKind::Forbidden => "forbidden",
            EventKind::Dlp => "dlp",
            EventKind::ApprovalRefused => "approval_refused",
            EventKind::RedteamFailure => "redteam_failure",
            EventKind::Incident => "incident",
        }
    }

    /// The weight of one event of this kind for `subject` under `trust` (a forbid hit weighs
    /// `provider_forbidden` for a provider).
    pub fn delta(self, trust: &tribune_bundle::Trust, subject: &str) -> i32 {
        let e = &trust.events;
        match self {
            EventKind::Allowed => e.allowed,
            EventKind::Forbidden if subject.starts_with("provider:") => e.provider_forbidden,
            EventKind::Forbidden => e.forbidden,
            // A provider pays for data governance on its tools' results at its light weight.
            EventKind::Dlp if subject.starts_with("provider:") => e.provider_forbidden,
            EventKind::Dlp => e.dlp,
            EventKind::ApprovalRefused => e.approval_refused,
            EventKind::RedteamFailure => e.redteam_failure,
            EventKind::Incident => e.incident,
        }
    }
}

/// Whether `subject` is a well-formed trust subject: `agent:ID`, `service:ID` or `provider:ID`.
pub fn is_subject(subject: &str) -> bool {
    subject.split_once(':').is_some_and(|(kind, id)| {
        matches!(kind, "agent" | "service" | "provider") && tribune_bundle::Id::parse(id).is_ok()
    })
}

/// Whether the bundle declares `subject` (runtime identities are in the active bundle too).
pub fn is_declared(bundle: &Bundle, subject: &str) -> bool {
    match subject.split_once(':') {
        Some(("agent", id)) => bundle.agents.contains_key(id),
        Some(("service", id)) => bundle.services.contains_key(id),
        Some(("provider", id)) => bundle.providers.contains_key(id),
        _ => false,
    }
}

/// Every subject the bundle declares, sorted.
pub fn declared(bundle: &Bundle) -> Vec<String> {
    let mut out: Vec<String> = bundle
        .agents
        .keys()
        .map(|id| format!("agent:{id}"))
        .chain(bundle.services.keys().map(|id| format!("service:{id}")))
        .chain(bundle.providers.keys().map(|id| format!("provider:{id}")))
        .collect();
    out.sort();
    out
}

/// The trust scores of one node.
pub struct Trust {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The half-life the accumulators decay with.
    half_life_ms: u64,
    scores: HashMap<String, Accumulator>,
    /// Allowed calls not yet written: how many, and when the last one was.
    pending: HashMap<String, (u32, i64)>,
    /// The highest `seq` applied.
    highest: i64,
    /// `seq`s below `highest` not seen yet, with when the gap was noticed.
    holes: BTreeMap<i64, i64>,
    /// The band each subject was last recorded in (absent: `normal`), and the `seq` it was
    /// recorded at.
    bands: HashMap<String, (Band, i64)>,
    /// Each subject's newest event (by `seq`), which a band change may be down to.
    last: HashMap<String, TrustEventRecord>,
}

impl Inner {
    /// Applies one stored row, unless it was applied already.
    fn apply(&mut self, row: &TrustEventRecord, now: i64) {
        if row.seq <= self.highest && self.holes.remove(&row.seq).is_none() {
            return;
        }
        if row.seq > self.highest {
            let first_missing = self.highest + 1;
            // A jump larger than the tracking limit is not waited for (a fresh store, or
            // sequence values skipped in bulk).
            if self.highest > 0 && row.seq - first_missing <= MAX_HOLES as i64 {
                for missing in first_missing..row.seq {
                    if self.holes.len() < MAX_HOLES {
                        self.holes.insert(missing, now);
                    }
                }
            }
            self.highest = row.seq;
        }
        #[allow(clippy::cast_precision_loss)]
        let delta = row.delta as f64;
        self.scores
            .entry(row.subject.clone())
            .or_default()
            .add(delta, row.at_ms, self.half_life_ms);
        if self.last.get(&row.subject).is_none_or(|last| last.seq < row.seq) {
            self.last.insert(row.subject.clone(), row.clone());
        }
    }

    /// Where to read new rows from: before the oldest gap still waited for, else after the
    /// highest row applied.
    fn read_after(&mut self, now: i64) -> i64 {
        self.holes.retain(|_, noticed| now - *noticed < HOLE_TTL_MS);
        self.holes.keys().next().map_or(self.highest, |first| first - 1)
    }

    /// `subject`'s score at `now`, counting the allowed calls not written yet.
    fn score(&self, trust: &tribune_bundle::Trust, subject: &str, now: i64) -> u16 {
        let deviation = self
            .scores
            .get(subject)
            .map_or(0.0, |acc| acc.deviation_at(now, self.half_life_ms));
        let pending = self
            .pending
            .get(subject)
            .map_or(0.0, |(n, _)| f64::from(*n) * f64::from(trust.events.allowed));
        score(trust.baseline, deviation + pending)
    }
}

/// A band change this node found and means to record.
struct Crossing {
    subject: String,
    from: Band,
    to: Band,
    score: u16,
    /// The newest row this node had applied.
    seq: i64,
    /// The event that made the change: the subject's newest, if it is newer than the band it
    /// changes and moved the score the same way. Otherwise the change is decay's.
    cause: Option<TrustEventRecord>,
}

impl Trust {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves plain numbers behind, still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The scores from `store`'s history, with the half-life of `trust`.
    pub async fn load(store: &Store, trust: &tribune_bundle::Trust, now: i64) -> Result<Trust, StoreError> {
        let inner = rebuild(store, trust.half_life_ms, now).await?;
        Ok(Trust {
            inner: Mutex::new(inner),
        })
    }

    /// The principal's and the tool provider's scores at `now`, for one decision.
    pub fn scores(
        &self,
        snapshot: &Snapshot,
        kind: PrincipalKind,
        principal: &str,
        tool: &str,
        now: i64,
    ) -> TrustScores {
        let bundle = snapshot.bundle();
        let trust = &bundle.trust;
        if !trust.enforced {
            // The gate is off: no lock and no allocation on the decision path.
            return TrustScores::default();
        }
        let provider = bundle.tools.get(tool).map(|t| format!("provider:{}", t.provider));
        let inner = self.lock();
        TrustScores {
            principal: Some(inner.score(trust, &format!("{}:{principal}", kind.as_str()), now)),
            provider: provider.map(|p| inner.score(trust, &p, now)),
        }
    }

    /// `subject`'s score at `now`, its band, the allowed calls not yet written, and when its
    /// last written event happened.
    pub fn current(
        &self,
        trust: &tribune_bundle::Trust,
        subject: &str,
        now: i64,
    ) -> (u16, Band, u32, Option<i64>) {
        let inner = self.lock();
        let s = inner.score(trust, subject, now);
        let pending = inner.pending.get(subject).map_or(0, |(n, _)| *n);
        let last = inner.scores.get(subject).map(|a| a.at_ms);
        (s, Band::of(s, trust), pending, last)
    }

    /// Every subject with an event, in memory or written.
    pub fn subjects(&self) -> Vec<String> {
        let inner = self.lock();
        inner.scores.keys().chain(inner.pending.keys()).cloned().collect()
    }

    /// The half-life the scores decay with.
    pub fn half_life_ms(&self) -> u64 {
        self.lock().half_life_ms
    }

    /// Counts an allowed call of `subject` (written later, with others, as one row).
    fn allowed(&self, subject: &str, now: i64) {
        let mut inner = self.lock();
        let entry = inner.pending.entry(subject.to_owned()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = entry.1.max(now);
    }

    /// Applies rows this node wrote; `flushed` are the allowed calls they write, no longer
    /// pending. One lock, so no score misses them in between.
    fn apply(&self, rows: &[TrustEventRecord], flushed: &[(String, u32)], now: i64) {
        let mut inner = self.lock();
        for (subject, n) in flushed {
            if let Some(pending) = inner.pending.get_mut(subject) {
                pending.0 = pending.0.saturating_sub(*n);
                if pending.0 == 0 {
                    inner.pending.remove(subject);
                }
            }
        }
        for row in rows {
            inner.apply(row, now);
        }
    }

    /// The band changes this node sees at `now` among `only` (every subject when `None`).
    fn crossings(&self, trust: &tribune_bundle::Trust, only: Option<&[String]>, now: i64) -> Vec<Crossing> {
        let inner = self.lock();
        let all: Vec<&String> = match only {
            Some(subjects) => subjects.iter().collect(),
            None => inner.scores.keys().chain(inner.bands.keys()).collect(),
        };
        let mut out: Vec<Crossing> = Vec::new();
        for subject in all {
            if out.iter().any(|c| &c.subject == subject) {
                continue;
            }
            let s = inner.score(trust, subject, now);
            let to = Band::of(s, trust);
            let (from, recorded_seq) = inner.bands.get(subject).copied().unwrap_or((Band::Normal, 0));
            // A replica that has read less than the one that recorded the band leaves it be.
            if to != from && recorded_seq <= inner.highest {
                let cause = inner
                    .last
                    .get(subject)
                    .filter(|e| e.seq > recorded_seq && (e.delta < 0) == (to > from))
                    .cloned();
                out.push(Crossing {
                    subject: subject.clone(),
                    from,
                    to,
                    score: s,
                    seq: inner.highest,
                    cause,
                });
            }
        }
        out
    }

    fn set_bands(&self, records: &[TrustBandRecord]) {
        let mut inner = self.lock();
        inner.bands = records
            .iter()
            .filter_map(|r| Band::parse(&r.band).map(|b| (r.subject.clone(), (b, r.seq))))
            .collect();
    }

    fn set_band(&self, subject: &str, band: Band, seq: i64) {
        self.lock().bands.insert(subject.to_owned(), (band, seq));
    }
}

/// The accumulators, from the rows that still weigh anything at `now`.
async fn rebuild(store: &Store, half_life_ms: u64, now: i64) -> Result<Inner, StoreError> {
    let max = store.trust_events_max_seq().await?;
    let rows = store.trust_events_since(since(now, half_life_ms)).await?;
    let mut inner = Inner {
        half_life_ms,
        ..Inner::default()
    };
    for row in &rows {
        inner.apply(row, now);
    }
    inner.highest = inner.highest.max(max);
    inner.bands = store
        .trust_bands()
        .await?
        .iter()
        .filter_map(|r| Band::parse(&r.band).map(|b| (r.subject.clone(), (b, r.seq))))
        .collect();
    Ok(inner)
}

/// The oldest event time that still counts at `now`.
pub fn since(now: i64, half_life_ms: u64) -> i64 {
    let span = half_life_ms.saturating_mul(HISTORY_HALF_LIVES);
    now.saturating_sub(i64::try_from(span).unwrap_or(i64::MAX))
}

fn row(
    subject: String,
    kind: EventKind,
    delta: i64,
    count: i64,
    at_ms: i64,
    reference: Option<&str>,
) -> TrustEventRecord {
    TrustEventRecord {
        seq: 0,
        subject,
        kind: kind.as_str().to_owned(),
        delta,
        count,
        at_ms,
        reference: reference.map(str::to_owned),
    }
}

/// After a decision is recorded: an allowed call is counted; a forbid hit lowers the
/// principal's and the tool provider's scores; a data-governance denial or hold lowers the
/// principal's, unless the call joined a request already open or used an approval (`repeat`),
/// so waiting for a verdict costs nothing. Trust denials themselves move nothing. A failure to
/// write is logged: the decision stands.
pub async fn observe(
    state: &AppState,
    snapshot: &Snapshot,
    decision: &Decision,
    decision_id: &str,
    ledger_index: Option<u64>,
    repeat: bool,
    now: i64,
) {
    let bundle = snapshot.bundle();
    let trust = &bundle.trust;
    let principal = decision.principal.as_str();
    if decision.decision == Outcome::Allow {
        if trust.events.allowed != 0 {
            state.trust.allowed(principal, now);
        }
        return;
    }
    let mut events = Vec::new();
    let mut add = |subject: String, kind: EventKind| {
        let delta = kind.delta(trust, &subject);
        if delta != 0 {
            events.push(row(subject, kind, i64::from(delta), 1, now, Some(decision_id)));
        }
    };
    if decision.decision == Outcome::Deny && decision.reasons.iter().any(|r| r.code == Code::Forbidden) {
        add(principal.to_owned(), EventKind::Forbidden);
        if let Some(tool) = bundle.tools.get(decision.tool.as_str()) {
            add(format!("provider:{}", tool.provider), EventKind::Forbidden);
        }
    }
    if !repeat
        && decision
            .reasons
            .iter()
            .any(|r| matches!(r.code, Code::DlpBlocked | Code::DlpHold | Code::FlowForbidden))
    {
        add(principal.to_owned(), EventKind::Dlp);
    }
    if let Err(e) = write(state, trust, events, &[], ledger_index, now).await {
        tracing::warn!(error = %e, decision = %decision_id, "recording the decision's trust events failed");
    }
}

/// A human denied `principal`'s held call (approval request `approval_id`).
pub async fn approval_refused(state: &AppState, principal: &str, approval_id: &str, now: i64) {
    let snapshot = state.snapshot();
    let trust = &snapshot.bundle().trust;
    let delta = EventKind::ApprovalRefused.delta(trust, principal);
    if delta == 0 {
        return;
    }
    let events = vec![row(
        principal.to_owned(),
        EventKind::ApprovalRefused,
        i64::from(delta),
        1,
        now,
        Some(approval_id),
    )];
    // The refusal is an `approval` entry correlated with the held decision: an incident it
    // triggers holds it as evidence.
    let evidence = match state.store.approval(approval_id).await {
        Ok(Some(a)) => state
            .store
            .latest_entry_correlated(&a.decision_id)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    if let Err(e) = write(state, trust, events, &[], evidence, now).await {
        tracing::warn!(error = %e, approval = %approval_id, "recording a refused approval's trust event failed");
    }
}

/// Records an event of `kind` against `subject` (`agent:ID`, `service:ID` or `provider:ID`)
/// with the active bundle's weight, about `reference` (an incident, a red-team run): the API
/// the incident and red-team subsystems move scores through. Written before it returns. An
/// incident it triggers takes as evidence the newest entry correlated with `reference` (an
/// incident's own entries) or, for a red-team failure, the run's entry.
pub async fn record(
    state: &AppState,
    subject: &str,
    kind: EventKind,
    reference: Option<&str>,
) -> Result<(), ApiError> {
    if !is_subject(subject) {
        return Err(ApiError::Internal(format!("`{subject}` is not a trust subject")));
    }
    let snapshot = state.snapshot();
    let trust = &snapshot.bundle().trust;
    let now = now_ms();
    let delta = kind.delta(trust, subject);
    if delta == 0 {
        return Ok(());
    }
    let events = vec![row(subject.to_owned(), kind, i64::from(delta), 1, now, reference)];
    let evidence = match (kind, reference) {
        (EventKind::RedteamFailure, Some(run)) => state
            .store
            .redteam_runs(16)
            .await
            .ok()
            .and_then(|runs| runs.into_iter().find(|r| r.id == run))
            .and_then(|r| r.ledger_index)
            .and_then(|i| u64::try_from(i).ok()),
        (_, Some(uid)) => state.store.latest_entry_correlated(uid).await.ok().flatten(),
        (_, None) => None,
    };
    write(state, trust, events, &[], evidence, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// Data governance redacted or withheld the result of decision `decision_id` (`principal`
/// calling `tool`), its outcome recorded at `ledger_index`: a `dlp` event against the
/// principal, and one against the tool's provider, which returned the data (at a provider's
/// light weight, `provider_forbidden`). Written before the report is answered; a failure to
/// write is logged and the outcome stands.
pub async fn result_screened(
    state: &AppState,
    snapshot: &Snapshot,
    principal: &str,
    tool: &str,
    decision_id: &str,
    ledger_index: u64,
) {
    let bundle = snapshot.bundle();
    let trust = &bundle.trust;
    let now = now_ms();
    let mut events = Vec::new();
    let mut add = |subject: String| {
        let delta = EventKind::Dlp.delta(trust, &subject);
        if delta != 0 {
            events.push(row(
                subject,
                EventKind::Dlp,
                i64::from(delta),
                1,
                now,
                Some(decision_id),
            ));
        }
    };
    add(principal.to_owned());
    if let Some(t) = bundle.tools.get(tool) {
        add(format!("provider:{}", t.provider));
    }
    if let Err(e) = write(state, trust, events, &[], Some(ledger_index), now).await {
        tracing::warn!(error = %e, decision = %decision_id, "recording a screened result's trust events failed");
    }
}

/// Writes `events`, applies them on this node, and records the band changes they cause.
async fn write(
    state: &AppState,
    trust: &tribune_bundle::Trust,
    mut events: Vec<TrustEventRecord>,
    flushed: &[(String, u32)],
    evidence: Option<u64>,
    now: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let seqs = state.store.insert_trust_events(&events).await?;
    for (e, seq) in events.iter_mut().zip(seqs) {
        e.seq = seq;
    }
    state.trust.apply(&events, flushed, now);
    let subjects: Vec<String> = events.iter().map(|e| e.subject.clone()).collect();
    record_crossings(state, trust, Some(&subjects), now).await;
    // Incident triggers on trust (`trust_below`) see each subject's score (an agent's, a
    // service's or a provider's) after an event lowered it.
    for e in events.iter().filter(|e| e.delta < 0) {
        let (score, ..) = state.trust.current(trust, &e.subject, now);
        crate::incidents::trust_observed(state, &e.subject, score, evidence);
    }
    Ok(())
}

/// Records each band change this node sees (among `only`, or everywhere), each in the ledger
/// once across replicas.
async fn record_crossings(
    state: &AppState,
    trust: &tribune_bundle::Trust,
    only: Option<&[String]>,
    now: i64,
) {
    for c in state.trust.crossings(trust, only, now) {
        let (from, to) = (c.from.as_str(), c.to.as_str());
        let cause = c.cause.as_ref().map_or_else(
            || json!("decay"),
            |e| {
                json!({
                    "kind": e.kind,
                    "delta": e.delta,
                    "count": e.count,
                    "reference": e.reference,
                })
            },
        );
        let details = json!({
            "subject": c.subject,
            "from": from,
            "to": to,
            "score": c.score,
            "baseline": trust.baseline,
            "review_below": trust.review_below,
            "block_below": trust.block_below,
            "enforced": trust.enforced,
            "cause": cause,
        });
        let correlation = c.cause.as_ref().and_then(|e| e.reference.as_deref());
        let uid = format!("trust/{}/{now}", c.subject);
        let value = crate::ocsf::event(
            "trust_band_changed",
            3,
            &uid,
            "tribune",
            correlation,
            details,
            now,
        );
        // The band's compare-and-set commits with the entry: one replica records each crossing,
        // and a crossing whose entry fails is not recorded, so it is seen again.
        let guard = TrustBandRecord::change_write(&c.subject, from, to, now, c.seq);
        match state
            .ledger
            .record_event(
                "trust",
                value,
                now,
                SideRecord::Writes(Writes::guarded(guard, 1, Vec::new())),
            )
            .await
        {
            Ok(Appended::Entry { .. }) => {
                state.trust.set_band(&c.subject, c.to, c.seq);
                tracing::info!(subject = %c.subject, from, to, score = c.score, "trust band changed");
            }
            Ok(_) => {
                // Another replica recorded it (or a newer band): read what is recorded.
                match state.store.trust_bands().await {
                    Ok(records) => state.trust.set_bands(&records),
                    Err(e) => tracing::warn!(error = %e, "reading the recorded trust bands failed"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, subject = %c.subject, "recording a trust band change failed; it is recorded when next seen");
            }
        }
    }
}

/// Writes the allowed calls counted in memory, one row per subject.
async fn flush(state: &AppState, trust: &tribune_bundle::Trust, now: i64) -> Result<(), StoreError> {
    // They stay counted while they are written; a failed write leaves them for the next try.
    let taken: Vec<(String, (u32, i64))> = state
        .trust
        .lock()
        .pending
        .iter()
        .map(|(s, p)| (s.clone(), *p))
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    let events: Vec<TrustEventRecord> = taken
        .iter()
        .map(|(subject, (n, at))| {
            row(
                subject.clone(),
                EventKind::Allowed,
                i64::from(*n) * i64::from(trust.events.allowed),
                i64::from(*n),
                *at,
                None,
            )
        })
        .collect();
    let flushed: Vec<(String, u32)> = taken.into_iter().map(|(s, (n, _))| (s, n)).collect();
    write(state, trust, events, &flushed, None, now).await
}

/// One poll: the half-life of a new bundle, the allowed calls to write, the rows other replicas
/// wrote, the recorded bands, and the band changes decay brought about.
pub async fn poll(state: &AppState, tick: u64) {
    let snapshot = state.snapshot();
    let trust = &snapshot.bundle().trust;
    let now = now_ms();
    if trust.half_life_ms != state.trust.half_life_ms() {
        match rebuild(&state.store, trust.half_life_ms, now).await {
            Ok(mut fresh) => {
                let mut inner = state.trust.lock();
                fresh.pending = std::mem::take(&mut inner.pending);
                *inner = fresh;
            }
            Err(e) => tracing::warn!(error = %e, "recomputing trust scores for a new half-life failed"),
        }
    }
    if tick.is_multiple_of(FLUSH_TICKS)
        && let Err(e) = flush(state, trust, now).await
    {
        tracing::warn!(error = %e, "writing the allowed calls' trust events failed; they are kept for the next try");
    }
    loop {
        let after = state.trust.lock().read_after(now);
        let rows = match state.store.trust_events_after(after, POLL_BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading trust events failed; keeping the scores this node has");
                return;
            }
        };
        let full = rows.len() >= POLL_BATCH as usize;
        {
            let mut inner = state.trust.lock();
            for row in &rows {
                inner.apply(row, now);
            }
        }
        if !full {
            break;
        }
    }
    match state.store.trust_bands().await {
        Ok(records) => state.trust.set_bands(&records),
        Err(e) => {
            tracing::warn!(error = %e, "reading the recorded trust bands failed");
            return;
        }
    }
    record_crossings(state, trust, None, now).await;
}

/// Polls every [`crate::stops::POLL`] while the state lives.
pub fn spawn_poller(state: std::sync::Weak<AppState>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::stops::POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            let Some(state) = state.upgrade() else { return };
            poll(&state, ticks).await;
        }
    })
    .abort_handle()
}

/// One row of a history, with the score just after it.
pub fn history_json(
    trust: &tribune_bundle::Trust,
    half_life_ms: u64,
    rows: &[TrustEventRecord],
) -> Vec<Value> {
    let mut acc = Accumulator::default();
    rows.iter()
        .map(|r| {
            #[allow(clippy::cast_precision_loss)]
            acc.add(r.delta as f64, r.at_ms, half_life_ms);
            json!({
                "seq": r.seq,
                "kind": r.kind,
                "delta": r.delta,
                "count": r.count,
                "at_ms": r.at_ms,
                "reference": r.reference,
                "score_after": score(trust.baseline, acc.deviation),
            })
        })
        .collect()
}
