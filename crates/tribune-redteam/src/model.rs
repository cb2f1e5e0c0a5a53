//! A red-team suite as the runner uses it: every value parsed, every step located in its file.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tribune_bundle::Location;
use tribune_policy::{PrincipalKind, StopScope};

/// A suite: scenarios written against one deployment's bundle.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The suite's name (`name = "..."`).
    pub name: String,
    /// The `[deployment] name` of the bundle it is written against.
    pub bundle: String,
    /// Free text.
    pub description: Option<String>,
    /// The scenarios, in file order.
    pub scenarios: Vec<Scenario>,
    /// Where `bundle = ...` is written.
    pub bundle_at: Location,
}

/// What a scenario attacks; the closed set the built-in suites cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Calling a tool beyond what the principal or its credential may call.
    PrivilegeEscalation,
    /// An irreversible call without dual control.
    AutonomyBypass,
    /// The human who triggered or owns a call approving it alone.
    SelfApproval,
    /// A call while an emergency stop covers it.
    StopBypass,
    /// A call with an expired credential.
    ExpiredCredential,
    /// A call with a revoked credential.
    RevokedCredential,
    /// A forbidden argument hidden in an otherwise allowed call.
    ArgumentSmuggling,
    /// Data of a protected class leaving through a tool.
    DataEgress,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in order.
    pub const ALL: [Category; 9] = [
        Category::PrivilegeEscalation,
        Category::AutonomyBypass,
        Category::SelfApproval,
        Category::StopBypass,
        Category::ExpiredCredential,
        Category::RevokedCredential,
        Category::ArgumentSmuggling,
        Category::DataEgress,
        Category::Other,
    ];

    /// The name as written in a suite.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PrivilegeEscalation => "privilege_escalation",
            Category::AutonomyBypass => "autonomy_bypass",
            Category::SelfApproval => "self_approval",
            Category::StopBypass => "stop_bypass",
            Category::ExpiredCredential => "expired_credential",
            Category::RevokedCredential => "revoked_credential",
            Category::ArgumentSmuggling => "argument_smuggling",
            Category::DataEgress => "data_egress",
            Category::Other => "other",
        }
    }

    /// Parses a category name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OWASP agentic threat, `T1` to `T17`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threat(u8);

impl Threat {
    /// Parses `T1` ... `T17`.
    pub fn parse(s: &str) -> Option<Threat> {
        let n: u8 = s.strip_prefix('T')?.parse().ok()?;
        (1..=17).contains(&n).then_some(Threat(n))
    }
}

impl fmt::Display for Threat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// One scenario: steps replayed in order, each with the outcome it must get.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Unique within the suite.
    pub id: String,
    /// What it attacks.
    pub category: Category,
    /// The OWASP agentic threats it exercises.
    pub threats: Vec<Threat>,
    /// What it shows, for people.
    pub description: String,
    /// At least one.
    pub steps: Vec<Step>,
    /// Where the scenario's table starts.
    pub location: Location,
}

/// The setup a credential step describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    /// The call comes with a credential whose `exp` has passed.
    Expired,
    /// The call comes with a credential the registry revoked.
    Revoked,
}

/// What must be in place before a step's call (all optional).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Emergency stops in force (`stop = ["agent:x"]`).
    pub stops: Vec<StopScope>,
    /// The state of the call's credential.
    pub credential: Option<CredentialState>,
    /// The tools the call's credential is scoped to.
    pub scopes: Option<BTreeSet<String>>,
    /// The human whose token triggered the call (an admin's dry run, say).
    pub requested_by: Option<String>,
    /// Humans who approve the held call, in order, each with a fresh MFA code.
    pub approve: Vec<String>,
}

/// The outcome a step must get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Allowed now, alone.
    Allow,
    /// Denied with this reason code.
    Deny {
        /// The primary reason's code, as the API writes it (`forbidden`, `stopped`, ...).
        code: String,
    },
    /// Held for human approval.
    Hold {
        /// Exactly this many distinct approvals, if given.
        approvals: Option<u32>,
        /// MFA required or not, if given.
        mfa: Option<bool>,
        /// The primary reason's code, if given.
        code: Option<String>,
    },
    /// Held, and the `approve` votes complete the approval.
    Approved,
    /// Held, and the approvals core refuses to complete it for this reason.
    NotApproved {
        /// Why the votes must not complete the approval.
        refusal: Refusal,
    },
}

/// Why the approvals core refuses to complete a held call's approval: the reason a
/// `not_approved` step names (`refusal = "..."`), so a vote that fails for any other reason
/// (a harness error, a missing MFA code) never passes as the control working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The human who triggered the call votes on it: every such vote is refused
    /// (`requester_cannot_approve`).
    SelfApproval,
    /// Only the principal's owner approved an irreversible call: the core counts the vote but
    /// reports that a non-owner is still needed.
    OwnerOnly,
    /// A human outside the tool's reviewer pool votes: every such vote is refused
    /// (`not_in_pool`).
    NotEligible,
}

impl Refusal {
    /// Every refusal, in order.
    pub const ALL: [Refusal; 3] = [Refusal::SelfApproval, Refusal::OwnerOnly, Refusal::NotEligible];

    /// The name as written in a suite.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::SelfApproval => "self_approval",
            Refusal::OwnerOnly => "owner_only",
            Refusal::NotEligible => "not_eligible",
        }
    }

    /// Parses a refusal name.
    pub fn parse(s: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Allow => f.write_str("allow"),
            Expect::Deny { code } => write!(f, "deny ({code})"),
            Expect::Hold { approvals, mfa, code } => {
                f.write_str("hold")?;
                let mut parts = Vec::new();
                if let Some(n) = approvals {
                    parts.push(format!("{n} approval(s)"));
                }
                match mfa {
                    Some(true) => parts.push("mfa".to_owned()),
                    Some(false) => parts.push("no mfa".to_owned()),
                    None => {}
                }
                if let Some(c) = code {
                    parts.push(c.clone());
                }
                if !parts.is_empty() {
                    write!(f, " ({})", parts.join(", "))?;
                }
                Ok(())
            }
            Expect::Approved => f.write_str("approved"),
            Expect::NotApproved { refusal } => write!(f, "not approved ({refusal})"),
        }
    }
}

/// One tool call with its setup and the outcome it must get.
#[derive(Clone, Debug)]
pub struct Step {
    /// Agent or service.
    pub kind: PrincipalKind,
    /// Its id.
    pub principal: String,
    /// The tool called.
    pub tool: String,
    /// The call's arguments (an object).
    pub arguments: Value,
    /// Request context attributes.
    pub context: Option<Map<String, Value>>,
    /// What is in place before the call.
    pub setup: Setup,
    /// What it must get.
    pub expect: Expect,
    /// Where the step's table starts.
    pub location: Location,
}

/// The reason codes a step may expect: every code the decision point gives (`Code`, as the API
/// writes it), and `credential_expired`, which authentication gives before the decision point
/// is reached.
pub const KNOWN_CODES: &[&str] = &[
    "unknown_principal",
    "unknown_tool",
    "invalid_arguments",
    "invalid_context",
    "permitted",
    "forbidden",
    "not_permitted",
    "policy_error",
    "approval_required",
    "trust_blocked",
    "trust_review",
    "dlp_blocked",
    "dlp_hold",
    "flow_forbidden",
    "quota_exceeded",
    "stopped",
    "out_of_scope",
    "credential_revoked",
    "credential_rotated",
    "rotation_overdue",
    "credential_required",
    "identity_suspended",
    "identity_decommissioned",
    "identity_pending",
    "hitl_capacity",
    "approval_unsatisfiable",
    "approved",
    "provider_unvetted",
    "provider_rejected",
    "vetting_expired",
    "provider_probation",
    "tool_quarantined",
    "internal_error",
    "credential_expired",
];
