//! Which tools a principal may ever call: the static answer an MCP gateway's `tools/list`
//! needs, so an agent is never shown a tool every call of which would be denied.
//!
//! The analysis is over the same candidate sets the decision uses. A tool is unreachable when
//! no permit policy's scope can match the (tool, principal) pair — Cedar then denies every
//! request by default — or when a forbid whose scope matches has no conditions — it then
//! matches every request. Anything else may be allowed for some arguments and context, so it is
//! listed. The approvals a listed tool needs are a lower bound: a call is held for the most
//! demanding of the autonomy rule for its tier and the permits that match it (`@approvals`), so
//! the bound is the rule raised by what every permit asks for at the least and by what each
//! permit without conditions (which matches every call) asks for.

use cedar_policy::Effect;
use tribune_bundle::Tier;

use crate::{PrincipalKind, Snapshot};

/// A tool a principal may call, and on what terms at the least.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachable {
    /// The tool's id.
    pub tool: String,
    /// Its action tier.
    pub tier: Tier,
    /// Approvals every call needs at the least; 0 means it can run alone.
    pub approvals: u32,
    /// Whether those approvals need MFA.
    pub mfa: bool,
}

impl Snapshot {
    /// Every tool `principal` may call for some arguments, sorted by tool id. An undeclared
    /// principal may call nothing.
    pub fn reachable_tools(&self, kind: PrincipalKind, principal: &str) -> Result<Vec<Reachable>, String> {
        let principals = match kind {
            PrincipalKind::Agent => &self.agents,
            PrincipalKind::Service => &self.services,
        };
        let Some(entry) = principals.get(principal) else {
            return Ok(Vec::new());
        };
        let class = entry.class.as_ref().and_then(|c| self.bundle.classes.get(c));
        let mut out = Vec::new();
        for tool in self.bundle.tools.values() {
            let Some(tool_entry) = self.tools.get(tool.id.as_str()) else {
                continue;
            };
            let candidates = self.index.candidates(tool_entry.index, entry.group)?;
            let mut permits = 0usize;
            // Some permit matches any call that gets through, so the call needs at least the
            // least any permit asks for; a permit without conditions matches every call, so it
            // also needs at least what each of those asks for.
            let mut least_any: Option<(u32, bool)> = None;
            let mut always = (0u32, false);
            let mut blocked = false;
            for policy in candidates.policies() {
                match policy.effect() {
                    Effect::Forbid => blocked |= !policy.has_non_scope_constraint(),
                    Effect::Permit => {
                        permits += 1;
                        let meta = self.meta.get(policy.id());
                        let asks = (
                            meta.and_then(|m| m.approvals).unwrap_or(0),
                            meta.is_some_and(|m| m.mfa),
                        );
                        least_any = Some(match least_any {
                            None => asks,
                            Some((a, m)) => (a.min(asks.0), m && asks.1),
                        });
                        if !policy.has_non_scope_constraint() {
                            always = (always.0.max(asks.0), always.1 || asks.1);
                        }
                    }
                }
            }
            if blocked || permits == 0 {
                continue;
            }
            let rule = self.bundle.rule_for(class, tool.tier);
            let (least, least_mfa) = least_any.unwrap_or((0, false));
            let approvals = rule.approvals.max(least).max(always.0);
            let mfa = rule.mfa || least_mfa || always.1;
            out.push(Reachable {
                tool: tool.id.to_string(),
                tier: tool.tier,
                approvals,
                mfa: approvals > 0 && mfa,
            });
        }
        out.sort_by(|a, b| a.tool.cmp(&b.tool));
        Ok(out)
    }
}
