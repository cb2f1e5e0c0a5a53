//! Runtime evidence read from a running server, for `tribune check --server` (the drills) and
//! `tribune report --server` (all of it): the emergency-stop drills, the ledger verified here
//! against its signed checkpoints, the agent and service identities, and red-team runs.
//!
//! Nothing is taken on the server's word where it can be checked: the ledger is read whole and
//! verified with the same verifier as `tribune audit verify` (every payload against its leaf
//! hash, the tree against every checkpoint's signed root, each checkpoint's signature and its
//! consistency with the one before), and identities are judged against the review terms of the
//! bundle being assessed, not the server's. A source that cannot be read is an error: the
//! caller fails rather than report without it.

use tribune_bundle::Bundle;
use tribune_compliance::{
    CheckpointEvidence, DrillEvidence, Evidence, IdentityEvidence, IdentityReview, LastReview,
    LedgerEvidence, LedgerVerification, ReviewEvidence, VerifiedLedger,
};
use tribune_ledger::{Checkpoint, VerifierKey, verify_log};

use crate::client::{self, ClientError};
use crate::commands::identity::rfc3339;
use crate::commands::{audit, check};

/// The drills a server reported (`GET /v1/drills`).
pub(crate) struct Drills {
    pub(crate) server: String,
    pub(crate) last_passed_at_ms: Option<i64>,
}

/// The token `--server` needs, or the error saying so.
fn needs_token(token: Option<&str>) -> Result<&str, String> {
    token.ok_or_else(|| {
        "`--server` needs `--token TOKEN` (an admin's, an auditor's or a holder of stop authority's)"
            .to_owned()
    })
}

/// Reads the drills from `server`.
pub(crate) async fn read_drills(server: &str, token: Option<&str>) -> Result<Drills, String> {
    let token = needs_token(token)?;
    let body = client::get(server, "/v1/drills?limit=1", token)
        .await
        .map_err(|e| format!("cannot read the stop drills from `{server}`: {e}"))?;
    Ok(Drills {
        server: server.to_owned(),
        last_passed_at_ms: body["last_passed_at_ms"].as_i64(),
    })
}

impl Drills {
    /// As the compliance checks take it.
    pub(crate) fn evidence(&self, now_ms: i64) -> DrillEvidence {
        DrillEvidence {
            source: self.server.clone(),
            last_passed: self.last_passed_at_ms.map(|at| (at, rfc3339(at))),
            now_ms,
        }
    }
}

/// Reads the whole ledger from `server` and verifies it with `pinned` (a verifier key), or
/// with the key the server publishes when none is pinned.
pub(crate) async fn read_ledger(
    server: &str,
    token: &str,
    pinned: Option<&str>,
) -> Result<LedgerEvidence, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read the ledger from `{server}`: {e}");
    let (key_text, key_pinned) = match pinned {
        Some(k) => (k.trim().to_owned(), true),
        None => {
            let body = client::get(server, "/v1/audit/key", token)
                .await
                .map_err(|e| cannot(&e))?;
            let key = body["verifier_key"]
                .as_str()
                .ok_or_else(|| cannot(&"the answer carries no `verifier_key`"))?;
            (key.to_owned(), false)
        }
    };
    let key = VerifierKey::parse(&key_text).map_err(|e| format!("bad `--ledger-key`: {e}"))?;
    // Have the server sign a checkpoint over everything so far; none yet is not an error, it
    // is what the evidence shows.
    match client::get(server, "/v1/audit/checkpoint", token).await {
        Ok(_) | Err(ClientError::Api { status: 404, .. }) => {}
        Err(e) => return Err(cannot(&e)),
    }
    let evidence = |verification| LedgerEvidence {
        source: server.to_owned(),
        key: key_text.clone(),
        key_pinned,
        verification,
    };
    let mut log = match audit::fetch_log(server, token).await {
        Ok(log) => log,
        Err(reason) if reason.starts_with("FAILED") => {
            return Ok(evidence(LedgerVerification::Failed { reason }));
        }
        Err(e) => return Err(cannot(&e)),
    };
    if log.checkpoints.is_empty() {
        return Ok(evidence(LedgerVerification::Unsigned {
            entries: log.leaf_hashes.len() as u64,
        }));
    }
    // In size order, as the verifier checks neighbours' consistency.
    log.checkpoints
        .sort_by_key(|n| Checkpoint::parse_unverified(n).map_or(0, |c| c.size()));
    log.checkpoints.dedup();
    let report = match verify_log(&log.payloads, &log.leaf_hashes, &log.checkpoints, &key) {
        Ok(report) => report,
        Err(e) => {
            let reason = match e.first_bad_index() {
                Some(i) => format!("FAILED at entry {i}: {e}"),
                None => format!("FAILED: {e}"),
            };
            return Ok(evidence(LedgerVerification::Failed { reason }));
        }
    };
    // INVARIANT(verified-checkpoints): `verify_log` opened every note with `key`, so the
    // newest one parses; it is the checkpoint the verified entries rest on.
    let newest = log
        .checkpoints
        .last()
        .and_then(|n| Checkpoint::open(n, &key).ok())
        .ok_or_else(|| cannot(&"the newest checkpoint no longer opens"))?;
    if newest.size() != report.verified_size || newest.root() != &report.verified_root {
        return Ok(evidence(LedgerVerification::Failed {
            reason: format!(
                "FAILED: the newest checkpoint (size {}) is not the one verification reached (size {})",
                newest.size(),
                report.verified_size
            ),
        }));
    }
    let signed_at = signed_at(server, token, newest.size()).await?;
    Ok(evidence(LedgerVerification::Verified(VerifiedLedger {
        entries: report.entries,
        pruned: report.pruned,
        checkpoints: report.checkpoints as u64,
        checkpoint: CheckpointEvidence {
            origin: newest.origin().to_owned(),
            size: newest.size(),
            root: newest.root().to_base64(),
            signed_at: signed_at.map(|at| (at, rfc3339(at))),
        },
    })))
}

/// When the server recorded signing its checkpoint of `size` (the note carries no time).
async fn signed_at(server: &str, token: &str, size: u64) -> Result<Option<i64>, String> {
    let page = client::get(
        server,
        &format!("/v1/audit/checkpoints?from={size}&limit=1"),
        token,
    )
    .await
    .map_err(|e| format!("cannot read the checkpoints from `{server}`: {e}"))?;
    Ok(page["checkpoints"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["size"].as_u64() == Some(size)))
        .and_then(|c| c["created_at_ms"].as_i64()))
}

/// Reads every identity that is not decommissioned from `server`.
pub(crate) async fn read_identities(
    server: &str,
    token: &str,
    now_ms: i64,
) -> Result<IdentityEvidence, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read the identities from `{server}`: {e}");
    let body = client::get(server, "/v1/identities", token)
        .await
        .map_err(|e| cannot(&e))?;
    let list = body["identities"]
        .as_array()
        .ok_or_else(|| cannot(&"the answer carries no `identities`"))?;
    let mut identities = Vec::new();
    for i in list {
        if i["state"].as_str() == Some("decommissioned") {
            continue;
        }
        let (Some(id), Some(created_at_ms)) = (i["id"].as_str(), i["created_at_ms"].as_i64()) else {
            return Err(cannot(&"an identity without `id` or `created_at_ms`"));
        };
        identities.push(IdentityReview {
            id: id.to_owned(),
            class: i["class"].as_str().map(str::to_owned),
            created_at_ms,
            last_reviewed: i["last_reviewed_at_ms"].as_i64().map(|at| (at, rfc3339(at))),
        });
    }
    Ok(IdentityEvidence {
        source: server.to_owned(),
        identities,
        now_ms,
    })
}

/// Reads the latest activity review (`tribune audit review`) from `server`.
pub(crate) async fn read_reviews(
    server: &str,
    token: Option<&str>,
    now_ms: i64,
) -> Result<ReviewEvidence, String> {
    let token = needs_token(token)?;
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read the activity reviews from `{server}`: {e}");
    let body = client::get(server, "/v1/audit/reviews?limit=1", token)
        .await
        .map_err(|e| cannot(&e))?;
    let list = body["reviews"]
        .as_array()
        .ok_or_else(|| cannot(&"the answer carries no `reviews`"))?;
    let last = match list.first() {
        None => None,
        Some(r) => {
            let (Some(at_ms), Some(by), Some(checkpoint_size)) = (
                r["reviewed_at_ms"].as_i64(),
                r["reviewed_by"].as_str(),
                r["checkpoint_size"].as_u64(),
            ) else {
                return Err(cannot(
                    &"a review without `reviewed_at_ms`, `reviewed_by` or `checkpoint_size`",
                ));
            };
            Some(LastReview {
                at_ms,
                at: rfc3339(at_ms),
                by: by.to_owned(),
                checkpoint_size,
            })
        }
    };
    Ok(ReviewEvidence {
        source: server.to_owned(),
        last,
        now_ms,
    })
}

/// What `tribune report --server` read, for the findings `tribune check --server` would add.
pub(crate) struct Collected {
    pub(crate) evidence: Evidence,
    pub(crate) drills: Drills,
    /// When the latest passed run of the built-in red-team suite against the bundle ran, when
    /// the bundle declares `[redteam] cadence_days`.
    pub(crate) redteam: Option<Option<i64>>,
}

/// Everything `tribune report --server` reads: drills, the verified ledger, identities, and
/// red-team runs when `bundle` declares a cadence for them (as `tribune check --server`).
pub(crate) async fn collect(
    bundle: &Bundle,
    server: &str,
    token: Option<&str>,
    ledger_key: Option<&str>,
    now_ms: i64,
) -> Result<Collected, String> {
    let drills = read_drills(server, token).await?;
    let redteam = match bundle.redteam.cadence_days {
        Some(_) => Some(check::read_redteam(server, token, &bundle.hash).await?),
        None => None,
    };
    let reviews = read_reviews(server, token, now_ms).await?;
    let token = needs_token(token)?;
    let ledger = read_ledger(server, token, ledger_key).await?;
    let identities = read_identities(server, token, now_ms).await?;
    // Evidence read elsewhere keeps its default.
    #[allow(clippy::needless_update)]
    let evidence = Evidence {
        stop_drills: Some(drills.evidence(now_ms)),
        ledger: Some(ledger),
        identities: Some(identities),
        redteam: redteam
            .as_ref()
            .map(|last| check::redteam_evidence(server, &bundle.hash, last.as_ref(), now_ms)),
        reviews: Some(reviews),
        ..Evidence::NONE
    };
    Ok(Collected {
        evidence,
        drills,
        redteam: redteam.map(|last| last.map(|r| r.at_ms)),
    })
}
