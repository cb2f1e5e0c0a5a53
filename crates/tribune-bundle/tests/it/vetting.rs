//! `[vetting]` and `[providers.ID.vetting]`: vetting is required unless the bundle says
//! otherwise, and a provider's declared due-diligence record names a declared human, two
//! dates in order and plain notes; every bad declaration is a located error (snapshots).

use tribune_bundle::{Bundle, Diagnostic, VettingVerdict};

/// A valid manifest the cases start from. Line numbers in the snapshots count from here.
const BASE: &str = r#"[deployment]
name = "example.com/vetting"

[humans.alice]
roles = ["admin"]

[providers.helpdesk]
kind = "mcp_server"
"#;

fn parse(manifest: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(manifest)
}

/// Parses `BASE` followed by `more` and renders the declared vetting of a valid bundle, or
/// every diagnostic with the line it points at and a caret under its column.
fn check(more: &str) -> String {
    let manifest = format!("{BASE}{more}");
    match parse(&manifest) {
        Ok(bundle) => {
            let mut out = format!("ok: required = {}\n", bundle.vetting.required);
            for p in bundle.providers.values() {
                if let Some(v) = &p.vetting {
                    out.push_str(&format!(
                        "  {}: {} by {} reviewed {} ({}) expires {} ({}) notes {:?} at {}\n",
                        p.id,
                        v.status.as_str(),
                        v.reviewer_actor(),
                        v.reviewed,
                        v.reviewed_at_ms(),
                        v.expires,
                        v.expires_at_ms(),
                        v.notes,
                        v.location,
                    ));
                }
            }
            out
        }
        Err(diagnostics) => crate::render_errors(&diagnostics, &manifest),
    }
}

#[test]
fn required_unless_the_bundle_says_otherwise() {
    assert!(parse(BASE).unwrap().vetting.required);
    assert!(parse(&format!("{BASE}\n[vetting]\n")).unwrap().vetting.required);
    assert!(
        parse(&format!("{BASE}\n[vetting]\nrequired = true\n"))
            .unwrap()
            .vetting
            .required
    );
    assert!(
        !parse(&format!("{BASE}\n[vetting]\nrequired = false\n"))
            .unwrap()
            .vetting
            .required
    );
    assert!(parse(BASE).unwrap().providers["helpdesk"].vetting.is_none());
}

#[test]
fn a_full_declaration() {
    insta::assert_snapshot!(check(
        r#"[providers.helpdesk.vetting]
status = "probation"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"
notes = "SOC 2 report pending."

[providers.payments]
kind = "external_api"
vetting = { status = "rejected", reviewer = "human:alice", reviewed = "2026-01-31", expires = "2026-02-01" }
"#
    ));
    let b = parse(&format!(
        "{BASE}[providers.helpdesk.vetting]\nstatus = \"approved\"\nreviewer = \"human:alice\"\nreviewed = \"1970-01-01\"\nexpires = \"1970-01-02\"\n"
    ))
    .unwrap();
    let v = b.providers["helpdesk"].vetting.as_ref().unwrap();
    assert_eq!(v.status, VettingVerdict::Approved);
    // Both dates are 00:00 UTC of their day.
    assert_eq!((v.reviewed_at_ms(), v.expires_at_ms()), (0, 86_400_000));
}

#[test]
fn bad_declarations() {
    insta::assert_snapshot!(check(
        r#"[providers.helpdesk.vetting]
status = "approved"
reviewer = "alice"
reviewed = "2026-11-31"
expires = "next year"
notes = "tab	inside"

[providers.a]
kind = "mcp_server"
[providers.a.vetting]
status = "approved"
reviewer = "human:mallory"
reviewed = "2026-11-20"
expires = "2026-11-20"

[providers.b]
kind = "mcp_server"
[providers.b.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2025-01-01"

[providers.c]
kind = "mcp_server"
[providers.c.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "26-11-20"
expires = "2027-1-30"
"#
    ));
}

#[test]
fn an_unknown_status() {
    insta::assert_snapshot!(check(
        r#"[providers.helpdesk.vetting]
status = "pending"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"
"#
    ));
}

#[test]
fn a_declaration_without_expiry() {
    insta::assert_snapshot!(check(
        r#"[providers.helpdesk.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
"#
    ));
}

#[test]
fn an_unknown_key() {
    insta::assert_snapshot!(check(
        r#"[providers.helpdesk.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"
valid_days = 365
"#
    ));
}
