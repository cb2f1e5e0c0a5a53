//! Bad bundles: each case writes a small bundle and snapshots the diagnostics that loading
//! (`tribune_bundle::load_dir`) and compiling (`Snapshot::build`) report. Every diagnostic is
//! rendered with the source line it points at and a caret under its column, so a wrong
//! location shows in the snapshot.

use tribune_policy::Snapshot;

/// A valid manifest the cases start from. Line numbers in the snapshots count from here.
const BASE: &str = r#"[deployment]
name = "example.com/invalid"

[autonomy]
default_reviewer_pool = "leads"

[humans.alice]
roles = ["reviewer"]
stop_authority = true

[humans.bob]
roles = ["reviewer"]

[reviewer_pools.leads]
members = ["alice", "bob"]

[classes.support]
ceiling = "irreversible"

[agents.bot]
class = "support"
owner = "alice"

[providers.helpdesk]
kind = "mcp_server"

[tools.search]
provider = "helpdesk"
tier = "read"
[tools.search.input_schema]
type = "object"
required = ["query"]
properties.query = { type = "string" }
properties.limit = { type = "integer" }
"#;

/// A valid policy file for [`BASE`].
const POLICY: &str = r#"@id("bot-may-search")
permit (principal == Agent::"bot", action == Action::"search", resource);
"#;

/// Writes `manifest` and `policies` (name, text) as a bundle, loads and builds it, and renders
/// what was reported.
fn check(manifest: &str, policies: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tribune.toml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    for (name, text) in policies {
        std::fs::write(dir.path().join("policies").join(name), text).unwrap();
    }
    let mut sources = vec![("tribune.toml".to_owned(), manifest.to_owned())];
    sources.extend(
        policies
            .iter()
            .map(|(name, text)| (format!("policies/{name}"), (*text).to_owned())),
    );
    let (stage, diagnostics) = match tribune_bundle::load_dir(dir.path()) {
        Err(d) => ("load_dir", d),
        Ok(bundle) => match Snapshot::build(bundle) {
            Err(d) => ("Snapshot::build", d),
            Ok(s) => ("builds", s.findings().to_vec()),
        },
    };
    let mut out = format!("{stage}:\n");
    for d in &diagnostics {
        out.push_str(&render(d, &sources));
    }
    out
}

/// `d` followed by the line it points at and a caret under its column.
fn render(d: &tribune_bundle::Diagnostic, sources: &[(String, String)]) -> String {
    let mut out = format!("{d}\n");
    let line = sources
        .iter()
        .find(|(path, _)| *path == d.location.file)
        .and_then(|(_, text)| text.lines().nth(d.location.line - 1));
    if let Some(line) = line {
        let number = d.location.line.to_string();
        out.push_str(&format!("  {number} | {line}\n"));
        out.push_str(&format!(
            "  {} | {}^\n",
            " ".repeat(number.len()),
            " ".repeat(d.location.column - 1)
        ));
    }
    out
}

/// [`BASE`] with `from` replaced by `to`, which must occur exactly once.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "`{from}` must occur once in BASE");
    BASE.replace(from, to)
}

#[test]
fn base_bundle_builds() {
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY)]));
}

#[test]
fn unknown_top_level_key() {
    let manifest = format!("colour = \"blue\"\n\n{BASE}");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn unknown_nested_key() {
    let manifest = edit("owner = \"alice\"\n", "owner = \"alice\"\nclas = \"support\"\n");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn wrong_type() {
    let manifest = edit("stop_authority = true", "stop_authority = \"yes\"");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn agent_of_an_undeclared_class() {
    let manifest = edit("class = \"support\"", "class = \"suport\"");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn tool_of_an_undeclared_provider() {
    let manifest = edit("provider = \"helpdesk\"", "provider = \"help-desk\"");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn undeclared_owner() {
    let manifest = edit("owner = \"alice\"", "owner = \"carol\"");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn class_looser_than_the_floor() {
    let manifest = edit(
        "ceiling = \"irreversible\"\n",
        "ceiling = \"irreversible\"\nautonomy.write = { approvals = 0 }\nautonomy.irreversible = { approvals = 2, mfa = false }\n",
    );
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn table_declared_twice() {
    let manifest = format!("{BASE}\n[agents.bot]\nclass = \"support\"\nowner = \"bob\"\n");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn duplicate_policy_id() {
    let second = "// Again, by mistake.\n@id(\"bot-may-search\")\npermit (principal, action, resource);\n";
    insta::assert_snapshot!(check(BASE, &[("a.cedar", POLICY), ("b.cedar", second)]));
}

#[test]
fn policy_does_not_parse() {
    let bad =
        "@id(\"broken\")\npermit (\n    principal,\n    action == Action::\"search\"\n    resource\n);\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("broken.cedar", bad)]));
}

#[test]
fn policy_names_an_unknown_attribute() {
    let bad = "@id(\"unknown-attribute\")\nforbid (principal, action == Action::\"search\", resource)\nwhen { context.input.queery == \"x\" };\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("bad.cedar", bad)]));
}

#[test]
fn policy_compares_the_wrong_type() {
    let bad = "@id(\"wrong-type\")\nforbid (principal, action == Action::\"search\", resource)\nwhen { context.input.query > 3 };\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("bad.cedar", bad)]));
}

#[test]
fn policy_reads_an_optional_argument_without_has() {
    let bad = "@id(\"unguarded\")\nforbid (principal, action == Action::\"search\", resource)\nwhen { context.input.limit > 3 };\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("bad.cedar", bad)]));
}

#[test]
fn reserved_builtin_id() {
    let bad = "@id(\"builtin:mine\")\npermit (principal, action, resource);\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("bad.cedar", bad)]));
}

#[test]
fn bad_approvals_annotation() {
    let bad = "@id(\"many\")\n@approvals(\"many\")\npermit (principal, action, resource);\n\n@id(\"on-forbid\")\n@approvals(\"1\")\nforbid (principal, action, resource) when { false };\n";
    insta::assert_snapshot!(check(BASE, &[("main.cedar", POLICY), ("bad.cedar", bad)]));
}

#[test]
fn input_schema_not_an_object() {
    let manifest = edit("type = \"object\"\n", "type = \"string\"\n");
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

#[test]
fn classification_not_on_the_scale() {
    let manifest = edit(
        "tier = \"read\"\n",
        "tier = \"read\"\nclassification = \"secret\"\n",
    );
    insta::assert_snapshot!(check(&manifest, &[("main.cedar", POLICY)]));
}

/// A service declared with `scopes = []` may call nothing: the bundle builds (the built-in
/// scope rule has no empty set literal, which Cedar forbids).
#[test]
fn service_without_scopes_builds() {
    let manifest = format!("{BASE}\n[services.nightly]\nowner = \"bob\"\nscopes = []\n");
    assert_eq!(check(&manifest, &[("main.cedar", POLICY)]), "builds:\n");
}
