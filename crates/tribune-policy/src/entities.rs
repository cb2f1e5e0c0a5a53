//! The Cedar entities of a bundle: humans, pools, classes, agents, services, providers, tools.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use tribune_bundle::Bundle;

use crate::schema::types;

/// Builds the uid `Type::"id"`. Ids of the bundle are restricted (see `Id`), so any failure is
/// a bug, reported as an error rather than a panic.
pub fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| format!("bad entity type `{ty}`: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

fn attrs(pairs: Vec<(&str, RestrictedExpression)>) -> HashMap<String, RestrictedExpression> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, String> {
    let name = uid.to_string();
    Entity::new(uid, attrs, parents).map_err(|e| format!("cannot build entity {name}: {e}"))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

/// Every entity the bundle declares, as Cedar entities.
pub fn entities(bundle: &Bundle) -> Result<Vec<Entity>, String> {
    let mut out = Vec::new();
    let mut memberships: HashMap<&str, HashSet<EntityUid>> = HashMap::new();
    for pool in bundle.reviewer_pools.values() {
        let pool_uid = uid(types::POOL, pool.id.as_str())?;
        for m in &pool.members {
            memberships
                .entry(m.as_str())
                .or_default()
                .insert(pool_uid.clone());
        }
        out.push(entity(pool_uid, HashMap::new(), HashSet::new())?);
    }
    for h in bundle.humans.values() {
        let roles = RestrictedExpression::new_set(h.roles.iter().map(|r| string(r.as_str())));
        let parents = memberships.remove(h.id.as_str()).unwrap_or_default();
        out.push(entity(
            uid(types::HUMAN, h.id.as_str())?,
            attrs(vec![
                ("roles", roles),
                ("stop_authority", RestrictedExpression::new_bool(h.stop_authority)),
            ]),
            parents,
        )?);
    }
    for c in bundle.classes.values() {
        out.push(entity(
            uid(types::CLASS, c.id.as_str())?,
            attrs(vec![("ceiling", string(c.ceiling.as_str()))]),
            HashSet::new(),
        )?);
    }
    for a in bundle.agents.values() {
        let class = uid(types::CLASS, a.class.as_str())?;
        out.push(entity(
            uid(types::AGENT, a.id.as_str())?,
            attrs(vec![
                ("class", RestrictedExpression::new_entity_uid(class.clone())),
                (
                    "owner",
                    RestrictedExpression::new_entity_uid(uid(types::HUMAN, a.owner.as_str())?),
                ),
            ]),
            HashSet::from([class]),
        )?);
    }
    for s in bundle.services.values() {
        out.push(entity(
            uid(types::SERVICE, s.id.as_str())?,
            attrs(vec![(
                "owner",
                RestrictedExpression::new_entity_uid(uid(types::HUMAN, s.owner.as_str())?),
            )]),
            HashSet::new(),
        )?);
    }
    for p in bundle.providers.values() {
        out.push(entity(
            uid(types::PROVIDER, p.id.as_str())?,
            attrs(vec![
                ("kind", string(p.kind.as_str())),
                ("destination", string(p.destination.as_str())),
            ]),
            HashSet::new(),
        )?);
    }
    for t in bundle.tools.values() {
        let provider = uid(types::PROVIDER, t.provider.as_str())?;
        let destination = bundle
            .providers
            .get(&t.provider)
            .map_or("external", |p| p.destination.as_str());
        out.push(entity(
            uid(types::TOOL, t.id.as_str())?,
            attrs(vec![
                ("tier", string(t.tier.as_str())),
                ("tier_rank", RestrictedExpression::new_long(t.tier.rank())),
                ("classification", string(t.classification.name.as_str())),
                (
                    "classification_rank",
                    RestrictedExpression::new_long(t.classification.rank),
                ),
                ("provider", RestrictedExpression::new_entity_uid(provider.clone())),
                ("destination", string(destination)),
            ]),
            HashSet::from([provider]),
        )?);
    }
    Ok(out)
}
