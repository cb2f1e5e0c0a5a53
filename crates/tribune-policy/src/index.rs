//! The policy index: which policies can possibly apply to a request.
//!
//! Cedar evaluates every policy of a set on every request. But a policy whose scope cannot
//! match a request contributes nothing: Cedar evaluates a policy as `principal-scope &&
//! action-scope && resource-scope && conditions`, left to right with short-circuiting, so a
//! failed scope never reaches the conditions and can neither satisfy nor error. The index
//! therefore drops, ahead of time, every policy whose scope cannot match, and hands Cedar only
//! the candidates. The decision is identical by construction; `tests/it/differential.rs` checks
//! that on random requests against the unindexed set.
//!
//! The resource of a request is determined by its action (one action per tool, the tool is the
//! resource), so action and resource scopes are resolved per tool. Principal scopes are
//! resolved per *principal group*: principals that match exactly the same principal scopes are
//! interchangeable, so the (tool, group) pair names the candidate set. Candidate sets are built
//! on first use and cached for the life of the snapshot.
//!
//! What the decision point evaluates of a candidate set is its `plan::Plan`: `fold` first
//! settles, per tool, the candidates whose outcome does not depend on the request (see
//! `plan`), and plans are cached per (tool, group) like the candidate sets.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, PolicyId, PolicySet, PrincipalConstraint, ResourceConstraint,
};
use dashmap::DashMap;

use crate::eval::{Condition, EntityTable};
use crate::plan::{Fold, Plan, Reads, ToolFacts, fold};

/// A principal scope, in a hashable form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Scope {
    Is(EntityTypeName),
    Eq(EntityUid),
    In(EntityUid),
    IsIn(EntityTypeName, EntityUid),
}

/// What the index needs to know about an entity that can be a principal or a resource.
pub struct Member<'a> {
    /// The entity itself.
    pub uid: &'a EntityUid,
    /// Every entity it is transitively `in`.
    pub ancestors: &'a HashSet<EntityUid>,
}

impl Member<'_> {
    fn is_in(&self, target: &EntityUid) -> bool {
        self.uid == target || self.ancestors.contains(target)
    }
}

/// Candidate policies per tool and principal group.
pub struct PolicyIndex {
    set: PolicySet,
    scopes: Vec<Scope>,
    /// Per tool: (policy, its principal scope or `None` for "any principal").
    per_tool: Vec<Vec<(PolicyId, Option<u32>)>>,
    /// Per principal group: the sorted principal scopes its members match.
    groups: Vec<BTreeSet<u32>>,
    cache: DashMap<(u32, u32), Arc<PolicySet>>,
    /// Per tool, aligned with `per_tool`: how each candidate behaves for that tool.
    folds: Vec<Vec<Fold>>,
    /// Per policy: the arguments its conditions can read.
    reads: HashMap<PolicyId, Reads>,
    /// Per policy with conditions the evaluator mirrors: its compiled conditions (`eval`).
    compiled: HashMap<PolicyId, Arc<Condition>>,
    /// Per (tool, group), at `tool * groups + group`; sized by `seal`.
    plans: Vec<OnceLock<Arc<Plan>>>,
}

impl PolicyIndex {
    /// Indexes `set` for `tools` (action uid, ancestors of the action, the tool as a resource).
    pub fn new(set: PolicySet, tools: &[(EntityUid, HashSet<EntityUid>, Member<'_>)]) -> Self {
        let mut scopes: Vec<Scope> = Vec::new();
        let mut scope_ids: HashMap<Scope, u32> = HashMap::new();
        let mut per_tool = vec![Vec::new(); tools.len()];
        for policy in set.policies() {
            let scope = match policy.principal_constraint() {
                PrincipalConstraint::Any => None,
                PrincipalConstraint::Is(t) => Some(Scope::Is(t)),
                PrincipalConstraint::Eq(u) => Some(Scope::Eq(u)),
                PrincipalConstraint::In(u) => Some(Scope::In(u)),
                PrincipalConstraint::IsIn(t, u) => Some(Scope::IsIn(t, u)),
            };
            let scope_id = scope.map(|s| {
                *scope_ids.entry(s.clone()).or_insert_with(|| {
                    scopes.push(s);
                    (scopes.len() - 1) as u32
                })
            });
            let action = policy.action_constraint();
            let resource = policy.resource_constraint();
            for (i, (action_uid, action_ancestors, tool)) in tools.iter().enumerate() {
                let action_ok = match &action {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(u) => u == action_uid,
                    ActionConstraint::In(list) => list
                        .iter()
                        .any(|u| u == action_uid || action_ancestors.contains(u)),
                };
                let resource_ok = match &resource {
                    ResourceConstraint::Any => true,
                    ResourceConstraint::Eq(u) => u == tool.uid,
                    ResourceConstraint::In(u) => tool.is_in(u),
                    ResourceConstraint::Is(t) => t == tool.uid.type_name(),
                    ResourceConstraint::IsIn(t, u) => t == tool.uid.type_name() && tool.is_in(u),
                };
                if action_ok
                    && resource_ok
                    && let Some(slot) = per_tool.get_mut(i)
                {
                    slot.push((policy.id().clone(), scope_id));
                }
            }
        }
        PolicyIndex {
            set,
            scopes,
            per_tool,
            groups: Vec::new(),
            cache: DashMap::new(),
            folds: Vec::new(),
            reads: HashMap::new(),
            compiled: HashMap::new(),
            plans: Vec::new(),
        }
    }

    /// Classifies every tool's candidates (`plan::fold`) and compiles every condition the
    /// evaluator mirrors (`eval`); `tools` is in tool-index order.
    pub fn fold(&mut self, tools: &[ToolFacts<'_>], table: &EntityTable) {
        let mut json: HashMap<PolicyId, Option<serde_json::Value>> = HashMap::new();
        for policy in self.set.policies() {
            let j = policy.to_json().ok();
            if policy.has_non_scope_constraint()
                && let Some(condition) = j.as_ref().and_then(|j| Condition::compile(j, table))
            {
                self.compiled.insert(policy.id().clone(), condition);
            }
            let reads = j.as_ref().map_or_else(
                || Reads {
                    all: true,
                    ..Reads::default()
                },
                Reads::of_policy,
            );
            self.reads.insert(policy.id().clone(), reads);
            json.insert(policy.id().clone(), j);
        }
        self.folds = self
            .per_tool
            .iter()
            .zip(tools)
            .map(|(candidates, tool)| {
                candidates
                    .iter()
                    .map(|(id, _)| match self.set.policy(id) {
                        Some(p) => fold(p, json.get(id).and_then(Option::as_ref), tool),
                        None => Fold::Evaluate,
                    })
                    .collect()
            })
            .collect();
    }

    /// Sizes the plan cache once every principal has its group.
    pub fn seal(&mut self) {
        let n = self.per_tool.len() * self.groups.len();
        self.plans = (0..n).map(|_| OnceLock::new()).collect();
    }

    /// What the decision point evaluates for `tool` and principal `group`.
    pub fn plan(&self, tool: u32, group: u32) -> Result<Arc<Plan>, String> {
        let slot = (tool as usize)
            .checked_mul(self.groups.len())
            .and_then(|i| i.checked_add(group as usize))
            .and_then(|i| self.plans.get(i))
            .ok_or_else(|| format!("no plan for tool index {tool} and principal group {group}"))?;
        if let Some(plan) = slot.get() {
            return Ok(Arc::clone(plan));
        }
        let scopes = self
            .groups
            .get(group as usize)
            .ok_or_else(|| format!("unknown principal group {group}"))?;
        let policies = self
            .per_tool
            .get(tool as usize)
            .ok_or_else(|| format!("unknown tool index {tool}"))?;
        let folds = self
            .folds
            .get(tool as usize)
            .ok_or_else(|| format!("tool index {tool} was not folded"))?;
        let mut plan = Plan::default();
        for ((id, scope), fold) in policies.iter().zip(folds) {
            if scope.is_none_or(|s| scopes.contains(&s)) {
                let policy = self
                    .set
                    .policy(id)
                    .ok_or_else(|| format!("policy `{id}` vanished from the set"))?;
                let reads = self
                    .reads
                    .get(id)
                    .ok_or_else(|| format!("policy `{id}` was not folded"))?;
                plan.add(policy, *fold, reads, self.compiled.get(id))?;
            }
        }
        // Two threads may build the same plan; both are equal, the first one stays.
        Ok(Arc::clone(slot.get_or_init(|| Arc::new(plan.finish()))))
    }

    /// Assigns `principal` to its group, creating the group if it is new.
    pub fn group_of(&mut self, principal: &Member<'_>, known: &mut HashMap<BTreeSet<u32>, u32>) -> u32 {
        let matched: BTreeSet<u32> = self
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| match s {
                Scope::Is(t) => t == principal.uid.type_name(),
                Scope::Eq(u) => u == principal.uid,
                Scope::In(u) => principal.is_in(u),
                Scope::IsIn(t, u) => t == principal.uid.type_name() && principal.is_in(u),
            })
            .map(|(i, _)| i as u32)
            .collect();
        if let Some(g) = known.get(&matched) {
            return *g;
        }
        self.groups.push(matched.clone());
        let g = (self.groups.len() - 1) as u32;
        known.insert(matched, g);
        g
    }

    /// The candidate policies for `tool` and principal `group`.
    pub fn candidates(&self, tool: u32, group: u32) -> Result<Arc<PolicySet>, String> {
        if let Some(set) = self.cache.get(&(tool, group)) {
            return Ok(Arc::clone(set.value()));
        }
        let scopes = self
            .groups
            .get(group as usize)
            .ok_or_else(|| format!("unknown principal group {group}"))?;
        let policies = self
            .per_tool
            .get(tool as usize)
            .ok_or_else(|| format!("unknown tool index {tool}"))?;
        let mut set = PolicySet::new();
        for (id, scope) in policies {
            if scope.is_none_or(|s| scopes.contains(&s)) {
                let policy = self
                    .set
                    .policy(id)
                    .ok_or_else(|| format!("policy `{id}` vanished from the set"))?;
                set.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        let set = Arc::new(set);
        self.cache.insert((tool, group), Arc::clone(&set));
        Ok(set)
    }

    /// Every policy, unindexed.
    pub fn all(&self) -> &PolicySet {
        &self.set
    }
}
