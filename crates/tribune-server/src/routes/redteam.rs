//! Red-team runs: `POST /v1/redteam/runs`, `GET /v1/redteam/runs`.
//!
//! A run replays a suite (`docs/redteam.md`; the built-in suite for the active deployment when
//! the body names none) against this node's active snapshot, in process, through the same
//! `tribune_redteam::run` the offline `tribune redteam run` uses. The live facts are this
//! node's: the stops in force, the trust scores and the provider vettings are added to what
//! each step sets up, and nothing is spent or changed (quota windows are read, not counted;
//! no approval request is opened; no stop is made). Credential steps go through this node's
//! own credential path: an expired credential is minted by this node's issuer and checked by
//! the verifier the decision API uses, and a revoked one carries a `jti` this node's
//! revocation list holds and is looked up in its registry as the decision API does (when the
//! list is empty, the registry's refusal is simulated and the step's report says so).
//!
//! The server computes the result itself, so no client can write a passing outcome; but an
//! admin chooses the suite, so each run records its suite's SHA-256, whether it is the
//! built-in suite for the active deployment, and the bundle's hash. Evidence and the cadence
//! count only passed runs of the built-in suite against the bundle being assessed. Each run is
//! one `redteam_run` ledger entry (written before the run is stored and answered) and a row in
//! `redteam_runs`; a failed run records a `redteam_failure` trust event against each principal
//! whose step failed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_bundle::{Redteam, SourceFile};
use tribune_policy::Snapshot;
use tribune_redteam::{
    BaseFacts, CredentialCheck, CredentialRun, CredentialState, Environment, Report, Step,
};
use tribune_store::{Appended, RedteamRunRecord, SideRecord};

use super::{ApiJson, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

const DAY_MS: i64 = 86_400_000;

/// The body of a run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The suite's TOML text; the built-in suite for the active deployment when absent.
    #[serde(default)]
    suite: Option<String>,
    /// The suite's file name, for located errors.
    #[serde(default)]
    file: Option<String>,
}

/// `GET /v1/redteam/runs` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// At most this many runs, newest first (default 100, capped at 1000).
    limit: Option<u32>,
    /// The bundle hash the cadence is reckoned for (default: the active bundle's).
    bundle_hash: Option<String>,
}

/// This node's runtime facts, read once per step; nothing is written.
struct Live<'a> {
    state: &'a AppState,
    /// A credential this node's revocation list holds as revoked and not yet expired, read
    /// from the store before the run.
    revoked_jti: Option<String>,
}

impl Live<'_> {
    /// Mints a credential for `step`'s principal with this node's issuer, verifies it with the
    /// verifier the decision API uses at `now_ms`, and consults the registry as the decision
    /// API does.
    fn check(&self, step: &Step, snapshot: &Snapshot, jti: String, exp: i64, now_ms: i64) -> CredentialCheck {
        let identities = &self.state.identities;
        let verifier = identities.verifier();
        let issuer = identities.issuer();
        let now = now_ms.div_euclid(1000);
        let id = crate::identities::registry_id(step.kind, &step.principal);
        let generation = identities.view().get(&id).map_or(1, |r| r.generation);
        let claims = tribune_identity::Claims {
            iss: issuer.name().to_owned(),
            sub: id,
            aud: verifier.audience().to_owned(),
            iat: now - 960,
            nbf: now - 960,
            exp,
            jti,
            scope: tribune_redteam::run::credential_scopes(step)
                .into_iter()
                .collect(),
            generation,
            cls: None,
            act: None,
            anc: vec![],
        };
        let token = match issuer.issue(&claims) {
            Ok(t) => t,
            Err(e) => {
                return CredentialCheck::Failed(format!(
                    "this server's issuer cannot mint a credential: {e}"
                ));
            }
        };
        match verifier.verify(&token, now) {
            Err(e) => CredentialCheck::Refused {
                code: tribune_redteam::run::credential_error_code(&e).to_owned(),
            },
            Ok(verified) => {
                let presented = crate::identities::Presented::Credential(verified.claims.clone());
                CredentialCheck::Accepted {
                    scopes: Some(verified.claims.scope.as_set().clone()),
                    refusal: identities.refusal(
                        step.kind,
                        &step.principal,
                        Some(&presented),
                        snapshot.bundle(),
                        now_ms,
                    ),
                }
            }
        }
    }
}

impl Environment for Live<'_> {
    fn facts(&self, step: &Step, snapshot: &Snapshot, now_ms: i64) -> BaseFacts {
        let key = format!("{}:{}", step.kind.as_str(), step.principal);
        BaseFacts {
            stops: self.state.stops.current().iter().cloned().collect(),
            trust: self
                .state
                .trust
                .scores(snapshot, step.kind, &step.principal, &step.tool, now_ms),
            vetting: self.state.providers.facts(snapshot.bundle(), &step.tool, now_ms),
            calls_last_minute: snapshot
                .quota_limit(step.kind, &step.principal)
                .map_or(0, |_| self.state.quotas.count(&key, now_ms)),
        }
    }

    fn credential(
        &self,
        step: &Step,
        state: CredentialState,
        snapshot: &Snapshot,
        now_ms: i64,
    ) -> CredentialRun {
        let now = now_ms.div_euclid(1000);
        match state {
            CredentialState::Expired => CredentialRun {
                check: self.check(step, snapshot, format!("redteam-expired-{}", uuid::Uuid::now_v7()), now - 60, now_ms),
                exercised: "a credential that expired 60 s ago, minted by this server's issuer and checked by the verifier its decision API uses (its audience and leeway)".to_owned(),
            },
            CredentialState::Revoked => match &self.revoked_jti {
                Some(jti) => CredentialRun {
                    check: self.check(step, snapshot, jti.clone(), now + 300, now_ms),
                    exercised: format!(
                        "a credential carrying `jti` `{jti}`, which this server's revocation list holds as revoked, minted by this server's issuer, checked by its verifier and looked up in its identity registry as the decision API does"
                    ),
                },
                None => {
                    let mut run = tribune_redteam::run::simulated_credential(step, state, now_ms);
                    run.exercised = "simulated: this server's revocation list holds no unexpired revoked credential, so the registry's refusal was put into the facts; this shows the decision point denies a credential the registry refuses, not that this server's registry refuses revoked credentials (revoke one, `POST /v1/credentials/{jti}/revoke`, for runs to exercise it)".to_owned();
                    run
                }
            },
        }
    }
}

/// Where the deployment stands against `[redteam] cadence_days`.
pub struct Cadence {
    /// The declared cadence.
    pub cadence_days: Option<u32>,
    /// When the latest passed run ran.
    pub last_passed_at_ms: Option<i64>,
    /// When the next run is due (`None`: no cadence, or none ever passed).
    pub due_at_ms: Option<i64>,
    /// A cadence is declared and no run passed within it.
    pub overdue: bool,
}

impl Cadence {
    /// The standing at `now_ms` of a deployment whose latest passed run was at `last`.
    pub fn at(redteam: &Redteam, last: Option<i64>, now_ms: i64) -> Cadence {
        let cadence_days = redteam.cadence_days.as_ref().map(|c| c.value);
        let due_at_ms = cadence_days
            .zip(last)
            .map(|(days, at)| at.saturating_add(i64::from(days) * DAY_MS));
        Cadence {
            cadence_days,
            last_passed_at_ms: last,
            due_at_ms,
            overdue: cadence_days.is_some() && due_at_ms.is_none_or(|due| now_ms > due),
        }
    }
}

fn run_json(r: &RedteamRunRecord) -> Value {
    json!({
        "id": r.id,
        "suite": r.suite,
        "suite_sha256": r.suite_sha256,
        "builtin": r.builtin,
        "bundle_hash": r.bundle_hash,
        "run_by": r.run_by,
        "ran_at_ms": r.ran_at_ms,
        "passed": r.passed,
        "scenarios_total": r.scenarios_total,
        "scenarios_failed": r.scenarios_failed,
        "steps_total": r.steps_total,
        "steps_failed": r.steps_failed,
        "ledger_index": r.ledger_index,
    })
}

fn located(diagnostics: &[tribune_bundle::Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replays a suite against the active snapshot and records the run: admins only.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !caller.is_admin(&state) {
        return Err(ApiError::Forbidden(
            "running a red-team suite needs the admin token or a human with the `admin` role".to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let (file, text) = match &body.suite {
        Some(text) => (body.file.as_deref().unwrap_or("suite.toml"), text.as_str()),
        None => {
            let text = tribune_redteam::builtin_text(&bundle.deployment.name).ok_or_else(|| {
                ApiError::InvalidBody(format!(
                    "there is no built-in red-team suite for deployment `{}`; send one in `suite`",
                    bundle.deployment.name
                ))
            })?;
            ("builtin.toml", text)
        }
    };
    let suite_sha256 = tribune_redteam::suite_sha256(text);
    let builtin = tribune_redteam::is_builtin(&bundle.deployment.name, text);
    let suite = tribune_redteam::parse(&SourceFile::new(file, text))
        .map_err(|d| ApiError::InvalidBody(format!("the suite is not valid: {}", located(&d))))?;
    let unbound = tribune_redteam::bind::check(&suite, bundle);
    if !unbound.is_empty() {
        return Err(ApiError::InvalidBody(format!(
            "the suite does not fit the active bundle: {}",
            located(&unbound)
        )));
    }
    let now = now_ms();
    let revoked_jti = state
        .store
        .revoked_credentials_since(now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .into_iter()
        .next()
        .map(|(jti, _)| jti);
    let live = Live {
        state: &state,
        revoked_jti,
    };
    let report: Report = tribune_redteam::run(&snapshot, &suite, &live, now);
    let report_json = serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = format!("redteam-{}", uuid::Uuid::now_v7());
    let actor = caller.actor();
    let summary = json!({
        "run": id,
        "suite": report.suite,
        "suite_sha256": suite_sha256,
        "builtin": builtin,
        "bundle": report.bundle_hash,
        "passed": report.passed,
        "scenarios_total": report.scenarios_total,
        "scenarios_failed": report.scenarios_failed,
        "steps_total": report.steps_total,
        "steps_failed": report.steps_failed,
        "failed": report.scenarios.iter().filter(|s| !s.passed).map(|s| s.id.as_str()).collect::<Vec<_>>(),
    });
    let event = crate::ocsf::event(
        "redteam_run",
        3,
        &format!("redteam_run/{id}/{now}"),
        &actor,
        None,
        summary,
        now,
    );
    let index = match state
        .ledger
        .record_event("redteam", event, now, SideRecord::None)
        .await
    {
        Ok(Appended::Entry { index }) => index,
        Ok(other) => return Err(ApiError::Unrecorded(format!("the ledger answered {other:?}"))),
        Err(e) => return Err(ApiError::Unrecorded(e.to_string())),
    };
    let count = |n: u32| i64::from(n);
    let record = RedteamRunRecord {
        id: id.clone(),
        suite: report.suite.clone(),
        suite_sha256: suite_sha256.clone(),
        builtin,
        bundle_hash: report.bundle_hash.clone(),
        run_by: actor.clone(),
        ran_at_ms: now,
        scenarios_total: count(report.scenarios_total),
        scenarios_failed: count(report.scenarios_failed),
        steps_total: count(report.steps_total),
        steps_failed: count(report.steps_failed),
        passed: report.passed,
        report: report_json.to_string(),
        ledger_index: i64::try_from(index).ok(),
    };
    state
        .store
        .insert_redteam_run(&record)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tracing::info!(run = %id, suite = %report.suite, passed = report.passed, steps_failed = report.steps_failed, "red-team run");
    // A failed step lowers the trust of the principal that got through: one event per principal.
    let mut failed: Vec<&str> = report
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|st| !st.passed)
        .map(|st| st.principal.as_str())
        .collect();
    failed.sort_unstable();
    failed.dedup();
    for principal in failed {
        if let Err(e) = crate::trust::record(
            &state,
            principal,
            crate::trust::EventKind::RedteamFailure,
            Some(&id),
        )
        .await
        {
            tracing::warn!(error = %e, run = %id, principal, "recording a red-team failure's trust event failed");
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "run_by": actor,
            "ledger_index": index,
            "suite_sha256": suite_sha256,
            "builtin": builtin,
            "report": report_json,
        })),
    ))
}

/// The runs, newest first, and where the deployment stands against its cadence: admins and
/// auditors.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_auditor(&state) {
        return Err(ApiError::Forbidden(
            "listing red-team runs needs the admin token or a human with the `admin` or `auditor` role"
                .to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let limit = query.limit.unwrap_or(100).min(1000);
    let unavailable = |e: tribune_store::StoreError| ApiError::Unavailable(e.to_string());
    let bundle_hash = match query.bundle_hash {
        Some(h) if h.is_empty() || h.len() > 128 => {
            return Err(ApiError::InvalidQuery(
                "`bundle_hash` must be 1 to 128 characters".to_owned(),
            ));
        }
        Some(h) => h,
        None => snapshot.bundle().hash.clone(),
    };
    let runs = state.store.redteam_runs(limit).await.map_err(unavailable)?;
    // Only the built-in suite against this bundle counts: any other suite is an admin's choice.
    let last = state
        .store
        .last_passed_builtin_redteam_run(&bundle_hash)
        .await
        .map_err(unavailable)?;
    let cadence = Cadence::at(
        &snapshot.bundle().redteam,
        last.as_ref().map(|r| r.ran_at_ms),
        now_ms(),
    );
    Ok(Json(json!({
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
        "bundle_hash": bundle_hash,
        "last_passed": last.as_ref().map(run_json),
        "cadence_days": cadence.cadence_days,
        "last_passed_at_ms": cadence.last_passed_at_ms,
        "due_at_ms": cadence.due_at_ms,
        "overdue": cadence.overdue,
    })))
}
