//! Known positives and near misses, one table per detector: `check(text, expected)` where
//! `expected` lists `detector matched-text` for every finding.

use crate::{render, scanner};

#[track_caller]
fn check(text: &str, expected: &[&str]) {
    assert_eq!(render(scanner(), text), expected, "in {text:?}");
}

#[test]
fn ssn() {
    check("SSN: 536-22-1947.", &["ssn 536-22-1947"]);
    check("ssn 536 22 1947 on file", &["ssn 536 22 1947"]);
    check("(772-10-0042)", &["ssn 772-10-0042"]);
    // Never issued: area 000, 666 or 9xx (ITINs), group 00, serial 0000, voided numbers.
    check("000-12-3456", &[]);
    check("666-12-3456", &[]);
    check("912-34-5678", &[]);
    check("536-00-1947", &[]);
    check("536-22-0000", &[]);
    check("078-05-1120", &[]);
    // Mixed separators, or inside a longer number.
    check("536-22 1947", &[]);
    check("12-536-22-1947", &[]);
    check("536-22-1947-3", &[]);
    check("5536-22-1947", &[]);
}

#[test]
fn payment_card() {
    check(
        "card 4111 1111 1111 1111 exp 12/27",
        &["payment-card 4111 1111 1111 1111"],
    );
    check("5555555555554444", &["payment-card 5555555555554444"]);
    check("amex 3782-822463-10005.", &["payment-card 3782-822463-10005"]);
    check("6011111111111117", &["payment-card 6011111111111117"]);
    check("3530111333300000", &["payment-card 3530111333300000"]);
    check("diners 30569309025904", &["payment-card 30569309025904"]);
    check("2221000000000009", &["payment-card 2221000000000009"]);
    // The CVV after the number is not part of it.
    check("4111 1111 1111 1111 123", &["payment-card 4111 1111 1111 1111"]);
    // Invalid Luhn digit.
    check("4111 1111 1111 1112", &[]);
    check("5555555555554445", &[]);
    // No card network starts with 1 (an epoch in milliseconds, an order number).
    check("1700000000123", &[]);
    check("1234 5678 9012 3452", &[]);
    // Single digits are a list, not a card; a decimal's digits are not a card.
    check("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", &[]);
    check("0.4111111111111111", &[]);
    // Wrong length for the network (Amex is 15 digits).
    check("3782822463100050", &[]);
}

#[test]
fn iban() {
    check(
        "IBAN DE89 3704 0044 0532 0130 00.",
        &["iban DE89 3704 0044 0532 0130 00"],
    );
    check("GB82WEST12345698765432", &["iban GB82WEST12345698765432"]);
    check(
        "FR14 2004 1010 0505 0001 3M02 606",
        &["iban FR14 2004 1010 0505 0001 3M02 606"],
    );
    check("NL91ABNA0417164300", &["iban NL91ABNA0417164300"]);
    // A word after it is not part of it.
    check("pay DE89370400440532013000 EUR", &["iban DE89370400440532013000"]);
    // Bad checksum, wrong length, a country without IBANs, spaces not every four.
    check("DE89 3704 0044 0532 0130 01", &[]);
    check("DE89 3704 0044 0532 0130", &[]);
    check("US12 3456 7890 1234 5678 90", &[]);
    check("DE89 370 4004 4053 2013 000", &[]);
}

#[test]
fn email() {
    check(
        "mail alice.smith+tag@mail.example.co.uk now",
        &["email alice.smith+tag@mail.example.co.uk"],
    );
    check("mailto:bob@example.org", &["email bob@example.org"]);
    check("<carol@example.com>", &["email carol@example.com"]);
    // An address in a query string is still an address.
    check(
        "https://example.com/?email=dave@example.com",
        &["email dave@example.com"],
    );
    // The user part of a URL, a path segment, assets, malformed addresses.
    check("https://user@example.com/path", &[]);
    check("ftp://admin:secret@files.example.com/", &[]);
    check("git+ssh://first.last@git.example.com/repo", &[]);
    check("https://medium.com/@alice/post", &[]);
    check("https://cdn.example.com/pkg@1.2.3/dist.js", &[]);
    check("icon@2x.png", &[]);
    check("a..b@example.com", &[]);
    check("alice@-example.com", &[]);
}

#[test]
fn phone() {
    check("call +1 415 555 2671 now", &["phone +1 415 555 2671"]);
    check("+44 20 7946 0958", &["phone +44 20 7946 0958"]);
    check("+49 (30) 123456789", &["phone +49 (30) 123456789"]);
    check("tel (415) 555-2671", &["phone (415) 555-2671"]);
    check("415-555-2671", &["phone 415-555-2671"]);
    check("1-800-555-0199", &["phone 800-555-0199"]);
    // Dates, times, versions, addresses and unseparated numbers are not phone numbers.
    check("2024-03-15", &[]);
    check("15/03/2024 10:45", &[]);
    check("2024-03-15T10:45:00.123Z", &[]);
    check("10.20.30.40", &[]);
    check("order 4155552671", &[]);
    check("v1.415.555.2671", &[]);
    check("415-555-2671-99", &[]);
    check("+1 2", &[]);
    check("+1234567890123456789", &[]);
    check("exchange 415-155-2671", &[]);
}

#[test]
fn vendor_keys() {
    let github = format!("ghp_{}", "a1B2".repeat(9));
    check(&format!("token={github}"), &[&format!("github-token {github}")]);
    let pat = format!("github_pat_{}_{}", "A".repeat(22), "b".repeat(59));
    check(&pat, &[&format!("github-token {pat}")]);
    check("AKIAIOSFODNN7EXAMPLE", &["aws-access-key AKIAIOSFODNN7EXAMPLE"]);
    let slack = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    check(slack, &[&format!("slack-token {slack}")]);
    let hook = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    check(hook, &[&format!("slack-token {hook}")]);
    let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
    check(&stripe, &[&format!("stripe-key {stripe}")]);
    let google = format!("AIza{}", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY");
    check(&google, &[&format!("google-api-key {google}")]);
    let openai = format!("sk-proj-{}", "Ab3_".repeat(12));
    check(&openai, &[&format!("openai-key {openai}")]);
    let legacy = format!("sk-{}T3BlbkFJ{}", "a".repeat(20), "B".repeat(20));
    check(&legacy, &[&format!("openai-key {legacy}")]);
    let anthropic = format!("sk-ant-api03-{}", "x9_Z-".repeat(19));
    check(&anthropic, &[&format!("anthropic-key {anthropic}")]);
    // Too short, test-mode keys, a prefix inside a longer word.
    check("ghp_short", &[]);
    check("AKIA1234", &[]);
    check(&format!("sk_test_{}", "4eC39HqLyjWDarjtT1zdp7dc"), &[]);
    check("xAKIAIOSFODNN7EXAMPLE", &[]);
}

#[test]
fn private_keys() {
    let pem =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98b3+/x==\nAbCd\n-----END RSA PRIVATE KEY-----";
    check(&format!("key:\n{pem}\nthanks"), &[&format!("private-key {pem}")]);
    // As it appears inside a JSON string: escaped newlines.
    let escaped =
        r"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    check(escaped, &[&format!("private-key {escaped}")]);
    // Cut off before its END line: the base64 that follows is still covered.
    let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
    check(cut, &[&format!("private-key {cut}")]);
    check(
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
        &[],
    );
}

#[test]
fn declared_pattern() {
    check("chart for MRN: 00482913 today", &["mrn MRN: 00482913"]);
    check("MRN 123", &[]);
}

/// Typical text with nothing to find stays empty: prose with numbers, dates, versions,
/// amounts, hashes, uuids and urls.
#[test]
fn typical_text_without_findings() {
    let text = "Release 2.14.3 shipped on 2024-03-15 at 10:45 UTC (build 20240315.7). \
        Total $1,250.00 for 12 items; see https://example.com/orders/48213?page=2#top. \
        Commit 3f2a9c1e7b4d5a6f8e9d0c1b2a3f4e5d6c7b8a9f, request 550e8400-e29b-41d4-a716-446655440000, \
        room 1204, ext. 5521, ZIP 94103, ISBN 978-3-16-148410-0, latency p99 = 412 ms.";
    check(text, &[]);
}

/// One detector's near miss does not hide another's hit at the same place: these 13 digits
/// fail Luhn as a card, and are still a phone number.
#[test]
fn a_failed_candidate_falls_through_to_later_detectors() {
    let digits: Vec<u8> = "4155552671124".bytes().collect();
    assert!(!tribune_dlp::validate::luhn(&digits));
    check("415 555 2671 124", &["phone 415 555 2671"]);
}
