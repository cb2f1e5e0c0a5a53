//! Suite parsing: every problem is located `file:line:col` with a stable code.

use tribune_bundle::SourceFile;

/// Parses `text` as `suite.toml` and returns its diagnostics, one per line.
fn errors(text: &str) -> String {
    match tribune_redteam::parse(&SourceFile::new("suite.toml", text)) {
        Ok(_) => "ok".to_owned(),
        Err(d) => d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
    }
}

const HEAD: &str = "name = \"s\"\nbundle = \"example.com/quickstart\"\n";

fn check(body: &str, expected: &str) {
    assert_eq!(errors(&format!("{HEAD}{body}")), expected, "{body}");
}

#[test]
fn redteam_parse_errors_are_located() {
    // `not_approved` names the refusal it must get, and only `not_approved` takes one.
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"self_approval\"\nthreats = [\"T14\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\napprove = [\"alice\"]\nexpect = \"not_approved\"\n",
        "suite.toml:12:10: error[missing-key]: `expect = \"not_approved\"` needs the `refusal` it must get (self_approval, owner_only, not_eligible)",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"self_approval\"\nthreats = [\"T14\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\napprove = [\"alice\"]\nexpect = \"not_approved\"\nrefusal = \"mfa\"\n",
        "suite.toml:13:11: error[unknown-value]: `mfa` is not a refusal of the approvals core: use one of self_approval, owner_only, not_eligible",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"self_approval\"\nthreats = [\"T14\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\napprove = [\"alice\"]\nexpect = \"approved\"\nrefusal = \"owner_only\"\n",
        "suite.toml:13:11: error[conflicting-keys]: `refusal` applies only to `expect = \"not_approved\"`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"stop_bypass\"\nthreats = [\"T13\"]\ndescription = \"d\"\nbogus = 1\n",
        "suite.toml:8:1: error[unknown-key]: unknown field `bogus`, expected one of `id`, `category`, `threats`, `description`, `steps`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"stop\"\nthreats = [\"T18\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"allow\"\n",
        "suite.toml:5:12: error[unknown-value]: `stop` is not a category: use one of privilege_escalation, autonomy_bypass, self_approval, stop_bypass, expired_credential, revoked_credential, argument_smuggling, data_egress, other\nsuite.toml:6:12: error[unknown-value]: `T18` is not an OWASP agentic threat: use `T1` to `T17`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"stop_bypass\"\nthreats = [\"T13\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"deny\"\n",
        "suite.toml:11:10: error[missing-key]: `expect = \"deny\"` needs the reason `code` (e.g. `forbidden`)",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"stop_bypass\"\nthreats = [\"T13\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"deny\"\ncode = \"stoped\"\n",
        "suite.toml:12:8: error[unknown-value]: `stoped` is not a reason code Tribune gives",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"stop_bypass\"\nthreats = [\"T13\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nstop = [\"agent\"]\nexpect = \"allow\"\n",
        "suite.toml:11:9: error[bad-value]: `agent` is not a stop scope: use `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"self_approval\"\nthreats = [\"T14\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"approved\"\n",
        "suite.toml:11:10: error[missing-key]: `expect = \"approved\"` and `\"not_approved\"` need `approve = [HUMAN, ...]`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"other\"\nthreats = [\"T1\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\nservice = \"y\"\ntool = \"t\"\nexpect = \"allow\"\n",
        "suite.toml:10:11: error[conflicting-keys]: a step names either `agent` or `service`, not both",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"other\"\nthreats = [\"T1\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\ncredential = \"stolen\"\nexpect = \"allow\"\n",
        "suite.toml:11:14: error[unknown-value]: unknown variant `stolen`, expected `expired` or `revoked`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"other\"\nthreats = [\"T1\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"hold\"\napprovals = \"two\"\n",
        "suite.toml:12:13: error[wrong-type]: invalid type: string \"two\", expected u32",
    );
    check(
        "",
        "suite.toml:1:8: error[empty-suite]: the suite has no `[[scenarios]]`",
    );
    check(
        "[[scenarios]]\nid = \"a\"\ncategory = \"other\"\nthreats = [\"T1\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"allow\"\n[[scenarios]]\nid = \"a\"\ncategory = \"other\"\nthreats = [\"T1\"]\ndescription = \"d\"\n[[scenarios.steps]]\nagent = \"x\"\ntool = \"t\"\nexpect = \"allow\"\n",
        "suite.toml:13:6: error[duplicate-id]: scenario `a` is declared twice",
    );
}

#[test]
fn redteam_builtin_suites_parse() {
    for (file, deployment, text) in tribune_redteam::BUILTIN {
        let suite = tribune_redteam::parse(&SourceFile::new(*file, *text))
            .unwrap_or_else(|d| panic!("{file}: {d:?}"));
        assert_eq!(&suite.bundle, deployment, "{file}");
    }
}

/// The bundle's `[redteam]` table: its errors are located like every other section's.
#[test]
fn redteam_bundle_section_errors_are_located() {
    let bundle = |extra: &str| {
        let text = format!("[deployment]\nname = \"d\"\n\n[redteam]\n{extra}");
        let sources = tribune_bundle::BundleSources {
            manifest: SourceFile::new("tribune.toml", text),
            policy_files: Vec::new(),
        };
        match tribune_bundle::parse(sources) {
            Ok(b) => format!(
                "ok: {:?}",
                b.redteam.cadence_days.map(|c| (c.value, c.location.to_string()))
            ),
            Err(d) => d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
        }
    };
    assert_eq!(
        bundle("cadence_days = 30\n"),
        "ok: Some((30, \"tribune.toml:5:16\"))"
    );
    assert_eq!(
        bundle("cadence_days = 0\n"),
        "tribune.toml:5:16: error[bad-value]: `[redteam] cadence_days` must be between 1 and 366, not 0"
    );
    assert_eq!(
        bundle("cadence = 30\n"),
        "tribune.toml:5:1: error[unknown-key]: unknown field `cadence`, expected `cadence_days`"
    );
    assert_eq!(
        bundle("cadence_days = \"monthly\"\n"),
        "tribune.toml:5:16: error[wrong-type]: invalid type: string \"monthly\", expected u32"
    );
}
