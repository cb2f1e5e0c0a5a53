//! Ledger entries, shaped as OCSF API Activity events (class 6003).
//!
//! Each entry carries the `security_control` profile's fields (`action`, `disposition`, the
//! `policy` that decided) and the `ai_operation` profile's context for the agent; approvals,
//! outcomes and anything else about a decision link to it through
//! `metadata.correlation_uid`. Tribune's own view of the event rides in `unmapped.tribune`.

use serde_json::{Value, json};
use tribune_ledger::{Entry, MAX_ENTRY_SIZE};

/// OCSF schema version the entries follow.
pub const OCSF_VERSION: &str = "1.5.0";

fn base(activity_id: u8, activity: &str, time_ms: i64, correlation: Option<&str>, uid: &str) -> Value {
    json!({
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": 6003 * 100 + u32::from(activity_id),
        "time": time_ms,
        "severity_id": 1,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": uid,
            "correlation_uid": correlation,
            "profiles": ["security_control", "ai_operation"],
            "product": { "name": "Tribune", "vendor_name": "Tribune", "version": env!("CARGO_PKG_VERSION") },
        },
    })
}

/// `unmapped.tribune`: the event's name and Tribune's record of it under `key`. The record is
/// moved in, not passed to `json!`, which would copy it by serializing it.
fn tribune_view(event: &str, key: &str, record: Value) -> Value {
    let tribune =
        serde_json::Map::from_iter([("event".to_owned(), Value::from(event)), (key.to_owned(), record)]);
    Value::Object(serde_json::Map::from_iter([(
        "tribune".to_owned(),
        Value::Object(tribune),
    )]))
}

/// The entry for a decision (`body` is the recorded decision, with its arguments).
pub fn decision(id: &str, body: &Value, time_ms: i64) -> Value {
    let verdict = body["decision"].as_str().unwrap_or("deny");
    let (action_id, action, disposition_id, disposition, status_id) = match verdict {
        "allow" => (1, "Allowed", 1, "Allowed", 1),
        "hold" => (99, "Held", 99, "Held for approval", 1),
        _ => (2, "Denied", 2, "Blocked", 2),
    };
    let reason = body["reasons"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["code"] != "permitted").or_else(|| r.first()));
    let principal = body["principal"].as_str().unwrap_or("");
    let (kind, agent) = principal.split_once(':').unwrap_or(("agent", principal));
    let mut v = base(99, "Other", time_ms, Some(id), id);
    v["status_id"] = json!(status_id);
    v["action_id"] = json!(action_id);
    v["action"] = json!(action);
    v["disposition_id"] = json!(disposition_id);
    v["disposition"] = json!(disposition);
    v["policy"] = json!({
        "uid": reason.and_then(|r| r["rule"].as_str()),
        "name": reason.and_then(|r| r["code"].as_str()),
        "desc": reason.and_then(|r| r["message"].as_str()),
    });
    v["api"] = json!({
        "operation": body["tool"],
        "request": { "uid": id },
        "service": { "name": "tribune.decide" },
    });
    v["actor"] = json!({ "ai_agent": { "uid": agent, "type": kind } });
    v["message_context"] = json!({ "session_uid": body["session"] });
    v["unmapped"] = tribune_view("decision", "decision", body.clone());
    v
}

/// The entry for the post-call report of decision `id`.
pub fn outcome(id: &str, principal: &str, body: &Value, time_ms: i64) -> Value {
    let succeeded = body["status"] == "succeeded";
    let mut v = base(99, "Other", time_ms, Some(id), &format!("{id}/outcome"));
    v["status_id"] = json!(if succeeded { 1 } else { 2 });
    v["actor"] = json!({ "ai_agent": { "uid": principal } });
    v["api"] = json!({ "operation": "outcome", "request": { "uid": id } });
    v["unmapped"] = tribune_view("outcome", "outcome", body.clone());
    v
}

/// The entry for any other governance event (`event` names it; `details` says what happened).
pub fn event(
    event: &str,
    activity_id: u8,
    uid: &str,
    actor: &str,
    correlation: Option<&str>,
    details: Value,
    time_ms: i64,
) -> Value {
    let activity = match activity_id {
        1 => "Create",
        2 => "Read",
        3 => "Update",
        4 => "Delete",
        _ => "Other",
    };
    let mut v = base(activity_id, activity, time_ms, correlation, uid);
    v["status_id"] = json!(1);
    v["actor"] = json!({ "user": { "uid": actor } });
    v["api"] = json!({ "operation": event });
    v["unmapped"] = json!({ "tribune": { "event": event, "details": details } });
    v
}

/// Canonicalizes `value` into an entry. A decision too large for one entry keeps everything but
/// its arguments, which are replaced by their size (the arguments hash stays in the decision,
/// and the full arguments in the decision record).
pub fn entry(mut value: Value) -> Result<Entry, tribune_ledger::Error> {
    match Entry::from_json(&value) {
        Err(tribune_ledger::Error::EntryTooLarge { .. }) => {
            let args = &mut value["unmapped"]["tribune"]["decision"]["arguments"];
            if args.is_null() {
                return Entry::from_json(&value);
            }
            let size = args.to_string().len();
            *args =
                json!({ "omitted": "larger than an entry allows", "bytes": size, "limit": MAX_ENTRY_SIZE });
            Entry::from_json(&value)
        }
        other => other,
    }
}
