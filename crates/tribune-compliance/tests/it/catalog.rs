//! The shipped packs and threat map load, and a pack that names a check that does not exist
//! does not.

use tribune_compliance::{Kind, LoadError, parse_pack};

use crate::catalog;

#[test]
fn every_shipped_pack_parses_and_names_only_existing_checks() {
    let c = catalog();
    let ids: Vec<&str> = c.packs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["hipaa", "eu-ai-act", "fedramp-moderate", "soc2", "nist-ai-rmf"]
    );
    for pack in &c.packs {
        for r in &pack.requirements {
            assert!(
                !r.citation.is_empty() && !r.rationale.is_empty() && r.url.starts_with("https://"),
                "{}",
                r.id
            );
        }
    }
    // The requirements the issue names are all there.
    let all: Vec<&str> = c
        .packs
        .iter()
        .flat_map(|p| &p.requirements)
        .map(|r| r.id.as_str())
        .collect();
    for id in [
        "HIPAA-164.312(b)",
        "HIPAA-164.316(b)(2)(i)",
        "HIPAA-164.312(d)",
        "HIPAA-164.308(a)(1)(ii)(D)",
        "EU-AIA-Art.12",
        "EU-AIA-Art.14(4)(d)",
        "EU-AIA-Art.14(4)(e)",
        "EU-AIA-Art.14(5)",
        "EU-AIA-Art.19(1)",
        "EU-AIA-Art.26(6)",
        "AU-9",
        "AU-9(3)",
        "AU-10",
        "AU-11",
        "AC-2",
        "IA-5",
        "SOC2-CC6.1",
        "SOC2-CC6.2",
        "SOC2-CC7.2",
        "SOC2-CC8.1",
        "AI-RMF-GOVERN-1.5",
        "AI-RMF-GOVERN-1.6",
    ] {
        assert!(all.contains(&id), "{id} missing");
    }
}

#[test]
fn the_threat_map_lists_t1_to_t17_on_the_seven_layers() {
    let t = &catalog().threats;
    assert_eq!(t.threats.len(), 17);
    assert_eq!(t.layers.len(), 7);
    for threat in &t.threats {
        assert!(threat.controls.iter().all(|c| c.requires.kind() == Kind::Static));
    }
}

#[test]
fn a_pack_naming_an_unknown_check_or_parameter_does_not_load() {
    let pack = |checks: &str| {
        format!(
            "id = \"x\"\ntitle = \"X\"\nversion = \"1\"\nsource = \"s\"\nurl = \"https://x\"\n\n[[requirements]]\nid = \"X-1\"\ncitation = \"c\"\ntitle = \"t\"\nseverity = \"error\"\nurl = \"https://x\"\nrationale = \"r\"\nchecks = [{checks}]\n"
        )
    };
    assert!(parse_pack("x.toml", &pack("{ check = \"role_held\", role = \"auditor\" }")).is_ok());
    let err = |checks: &str| match parse_pack("x.toml", &pack(checks)) {
        Err(LoadError::Syntax { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert!(err("{ check = \"retention_forever\" }").contains("unknown variant `retention_forever`"));
    assert!(err("{ check = \"role_held\", role = \"auditor\", mni = 2 }").contains("unknown field `mni`"));
    assert!(
        err("{ check = \"retention_at_least\", events = [\"decision\"] }").contains("missing field `days`")
    );
    assert!(matches!(
        parse_pack("x.toml", &pack("")),
        Err(LoadError::Invalid { .. })
    ));
}

/// docs/compliance.md names every requirement, check and threat the crate ships.
#[test]
fn the_documentation_lists_every_requirement_check_and_threat() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compliance.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let c = catalog();
    for r in c.packs.iter().flat_map(|p| &p.requirements) {
        assert!(doc.contains(&format!("`{}`", r.id)), "{} is not documented", r.id);
        for check in &r.checks {
            let name = serde_json::to_value(check).unwrap()["check"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                doc.contains(&format!("`{name}`")),
                "check {name} is not documented"
            );
        }
    }
    for t in &c.threats.threats {
        assert!(
            doc.contains(&format!("| {} ", t.id)),
            "{} is not documented",
            t.id
        );
        for control in &t.controls {
            let name = serde_json::to_value(&control.requires).unwrap()["check"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                doc.contains(&format!("`{name}`")),
                "check {name} is not documented"
            );
        }
    }
}
