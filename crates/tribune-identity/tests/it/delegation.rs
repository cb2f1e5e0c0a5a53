//! Delegation: the rules case by case, and `INVARIANT(attenuation)` as a property over
//! arbitrary parents, requests and chains of delegations.

use proptest::prelude::*;
use tribune_identity::{
    Actor, ActorError, Claims, Delegation, DelegationError, MAX_ACTOR_LEN, MAX_DELEGATION_DEPTH, Scopes,
    delegate,
};

use crate::support::*;

fn request(actor: &str, tools: Option<&[&str]>, ttl_secs: u64) -> Delegation {
    Delegation {
        actor: actor.into(),
        scopes: tools.map(scopes),
        ttl_secs,
    }
}

#[test]
fn a_child_narrows_its_parent() {
    let parent = claims("root");
    let child = delegate(
        &parent,
        &request("researcher", Some(&["web.fetch"]), 60),
        NOW + 5,
        "c1".into(),
    )
    .unwrap();
    let expected = Claims {
        iat: NOW + 5,
        nbf: NOW + 5,
        exp: NOW + 65,
        jti: "c1".into(),
        scope: scopes(&["web.fetch"]),
        act: Some(Actor {
            sub: "researcher".into(),
            act: None,
        }),
        anc: vec!["root".into()],
        ..parent.clone()
    };
    assert_eq!(child, expected);

    // `None` keeps every tool; the lifetime is cut to the parent's.
    let grandchild = delegate(&child, &request("fetcher", None, 3600), NOW + 6, "c2".into()).unwrap();
    assert_eq!(grandchild.scope, child.scope);
    assert_eq!(grandchild.exp, child.exp);
    assert_eq!(grandchild.anc, ["root", "c1"]);
    assert_eq!(grandchild.chain(), ["agent:planner", "researcher", "fetcher"]);
    assert_eq!(grandchild.current_actor(), "fetcher");
}

#[test]
fn refusals() {
    let parent = claims("root");
    let check = |req: Delegation, now: i64, jti: &str, expected: DelegationError| {
        assert_eq!(
            delegate(&parent, &req, now, jti.into()),
            Err(expected.clone()),
            "{req:?}"
        );
    };
    check(
        request("r", Some(&["web.fetch", "crm.write", "admin"]), 60),
        NOW,
        "c",
        DelegationError::ScopeEscalation {
            extra: vec!["admin".into(), "crm.write".into()],
        },
    );
    check(
        request("r", None, 60),
        NOW + 900,
        "c",
        DelegationError::ParentExpired { exp: NOW + 900 },
    );
    check(
        request("r", None, 60),
        NOW - 1,
        "c",
        DelegationError::ParentNotYetValid { nbf: NOW },
    );
    check(request("r", None, 0), NOW, "c", DelegationError::ZeroTtl);
    check(
        request("r", None, 60),
        NOW,
        "",
        DelegationError::BadJti { jti: String::new() },
    );
    check(
        request("r", None, 60),
        NOW,
        "root",
        DelegationError::BadJti { jti: "root".into() },
    );
    let bad_actor = |actor: &str, reason| DelegationError::BadActor {
        actor: actor.into(),
        reason,
    };
    check(request("", None, 60), NOW, "c", bad_actor("", ActorError::Empty));
    check(
        request("two words", None, 60),
        NOW,
        "c",
        bad_actor("two words", ActorError::BadCharacter),
    );
    check(
        request("tab\there", None, 60),
        NOW,
        "c",
        bad_actor("tab\there", ActorError::BadCharacter),
    );
    check(
        request("nul\0", None, 60),
        NOW,
        "c",
        bad_actor("nul\0", ActorError::BadCharacter),
    );
    let long = "é".repeat(MAX_ACTOR_LEN + 1);
    check(
        request(&long, None, 60),
        NOW,
        "c",
        bad_actor(
            &long,
            ActorError::TooLong {
                len: MAX_ACTOR_LEN + 1,
                max: MAX_ACTOR_LEN,
            },
        ),
    );
    assert!(
        delegate(
            &parent,
            &request(&"é".repeat(MAX_ACTOR_LEN), None, 60),
            NOW,
            "c".into()
        )
        .is_ok()
    );

    // Delegation depth: MAX_DELEGATION_DEPTH children, then no more.
    let mut claims = parent.clone();
    for i in 0..MAX_DELEGATION_DEPTH {
        claims = delegate(&claims, &request("r", None, 60), NOW, format!("c{i}")).unwrap();
    }
    assert_eq!(claims.depth(), MAX_DELEGATION_DEPTH);
    assert_eq!(
        delegate(&claims, &request("r", None, 60), NOW, "last".into()),
        Err(DelegationError::TooDeep {
            max: MAX_DELEGATION_DEPTH
        })
    );
    // ...and an ancestor's jti cannot be reused.
    assert_eq!(
        delegate(
            &parent_at_depth_one(),
            &request("r", None, 60),
            NOW,
            "root".into()
        ),
        Err(DelegationError::BadJti { jti: "root".into() })
    );
}

fn parent_at_depth_one() -> Claims {
    delegate(&claims("root"), &request("r", None, 60), NOW, "c0".into()).unwrap()
}

#[test]
fn error_messages() {
    let messages = [
        DelegationError::ScopeEscalation {
            extra: vec!["admin".into(), "crm.write".into()],
        }
        .to_string(),
        DelegationError::BadActor {
            actor: "a b".into(),
            reason: ActorError::BadCharacter,
        }
        .to_string(),
        DelegationError::TooDeep { max: 4 }.to_string(),
    ];
    assert_eq!(
        messages,
        [
            "tools outside the parent credential's scope: `admin`, `crm.write`",
            "invalid actor `a b`: it contains whitespace or a control character",
            "the delegation chain is already 4 deep, the maximum",
        ]
    );
}

const TOOLS: [&str; 6] = ["a", "b", "crm.read", "crm.write", "web.fetch", "x-y_z"];

fn any_scopes() -> impl Strategy<Value = Scopes> {
    proptest::sample::subsequence(TOOLS.to_vec(), 0..=TOOLS.len()).prop_map(|v| v.into_iter().collect())
}

prop_compose! {
    /// A parent credential around `NOW`, possibly itself delegated, possibly not valid at `NOW`.
    fn any_parent()(
        sub in "(agent|service):[a-z]{1,8}",
        aud in "[a-z]{1,6}",
        iss in "https://[a-z]{1,6}\\.example",
        generation in any::<u32>(),
        cls in proptest::option::of("[a-z]{1,6}"),
        scope in any_scopes(),
        nbf in -50i64..50,
        exp in -50i64..5000,
        depth in 0..=MAX_DELEGATION_DEPTH,
    ) -> Claims {
        let mut act = None;
        for i in 0..depth {
            act = Some(Actor { sub: format!("actor{i}"), act: act.map(Box::new) });
        }
        Claims {
            iss, sub, aud,
            iat: NOW + nbf.min(0),
            nbf: NOW + nbf,
            exp: NOW + exp,
            jti: "parent".into(),
            scope,
            generation,
            cls,
            act,
            anc: (0..depth).map(|i| format!("anc{i}")).collect(),
        }
    }
}

fn any_request() -> impl Strategy<Value = Delegation> {
    let actor = prop_oneof![
        8 => "[a-z0-9._:-]{1,20}",
        1 => Just(String::new()),
        1 => "[a-z]{1,5} [a-z]{1,5}",
        1 => "[a-z]{129,140}",
    ];
    let ttl = prop_oneof![1 => Just(0u64), 8 => 1u64..6000, 1 => Just(u64::MAX)];
    (actor, proptest::option::of(any_scopes()), ttl).prop_map(|(actor, scopes, ttl_secs)| Delegation {
        actor,
        scopes,
        ttl_secs,
    })
}

/// Delegates once and checks `INVARIANT(attenuation)`; returns the child, if any.
fn step(parent: &Claims, request: &Delegation, now: i64, jti: &str) -> Result<Option<Claims>, TestCaseError> {
    let result = delegate(parent, request, now, jti.into());
    let widens = request
        .scopes
        .as_ref()
        .is_some_and(|s| !s.is_subset(&parent.scope));
    if widens {
        prop_assert!(result.is_err(), "a wider scope was granted: {result:?}");
    }
    match result {
        Ok(child) => {
            prop_assert!(child.scope.is_subset(&parent.scope));
            prop_assert!(child.exp <= parent.exp);
            prop_assert!(child.exp > now && child.nbf == now && child.iat == now);
            prop_assert_eq!(&child.sub, &parent.sub);
            prop_assert_eq!(&child.aud, &parent.aud);
            prop_assert_eq!(&child.iss, &parent.iss);
            prop_assert_eq!(child.generation, parent.generation);
            prop_assert_eq!(&child.cls, &parent.cls);
            let mut anc = parent.anc.clone();
            anc.push(parent.jti.clone());
            prop_assert_eq!(&child.anc, &anc);
            let mut chain = parent.chain();
            chain.push(request.actor.clone());
            prop_assert_eq!(child.chain(), chain);
            prop_assert_eq!(&child.jti, jti);
            Ok(Some(child))
        }
        Err(DelegationError::ScopeEscalation { extra }) => {
            let requested = request.scopes.as_ref().unwrap();
            prop_assert_eq!(extra, requested.difference(&parent.scope));
            Ok(None)
        }
        Err(e) => {
            // Every refusal has its reason: a request meeting every rule succeeds.
            let meets_rules = tribune_identity::validate_actor(&request.actor).is_ok()
                && request.ttl_secs > 0
                && parent.nbf <= now
                && now < parent.exp
                && parent.depth() < MAX_DELEGATION_DEPTH
                && !widens;
            prop_assert!(!meets_rules, "refused a valid request: {e:?}");
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn delegation_attenuates(parent in any_parent(), request in any_request(), at in -60i64..5100) {
        step(&parent, &request, NOW + at, "child")?;
    }

    #[test]
    fn chains_of_delegations_attenuate(
        parent in any_parent(),
        requests in proptest::collection::vec((any_request(), 0i64..100), 1..7),
    ) {
        let mut current = parent;
        let mut now = NOW;
        for (i, (request, advance)) in requests.iter().enumerate() {
            now += advance;
            if let Some(child) = step(&current, request, now, &format!("c{i}"))? {
                current = child;
            }
        }
    }

    #[test]
    fn any_tool_outside_the_parent_scope_fails(
        parent in any_parent(),
        extra in proptest::sample::select(TOOLS.to_vec()),
        keep in any_scopes(),
    ) {
        prop_assume!(!parent.scope.contains(extra));
        let mut scopes: Scopes = keep.iter().filter(|t| parent.scope.contains(t)).collect();
        scopes.insert(extra);
        let request = Delegation { actor: "r".into(), scopes: Some(scopes), ttl_secs: 60 };
        prop_assert!(delegate(&parent, &request, NOW, "child".into()).is_err());
    }
}
