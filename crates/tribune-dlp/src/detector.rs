//! What a scanner looks for: the built-in detectors and the patterns a bundle declares, each
//! tied to the data class its findings belong to.

use std::fmt;
use std::sync::Arc;

use crate::error::DlpError;
use crate::validate;

/// Names a detector: a built-in's id (`ssn`) or a declared pattern's id (`mrn`). It names the
/// findings of the detector and its redaction marker (`[REDACTED:ssn]`).
///
/// INVARIANT(detector-id-charset): 1 to 128 characters of `[A-Za-z0-9_.-]`, starting with a
/// letter or digit, so an id never carries `]`, `/` or whitespace into a marker or a log line.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DetectorId(Arc<str>);

impl DetectorId {
    /// Parses a detector id.
    pub fn new(id: &str) -> Result<DetectorId, DlpError> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(DetectorId(id.into()))
        } else {
            Err(DlpError::BadId(id.to_owned()))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The data class a finding belongs to: a level of the bundle's classification scale (e.g.
/// `phi`, `restricted`). Actions are declared per class.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataClass(Arc<str>);

impl DataClass {
    /// A data class named `name` (the bundle checks that it is on its scale).
    pub fn new(name: &str) -> DataClass {
        DataClass(name.into())
    }

    /// The class as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for DetectorId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl serde::Serialize for DataClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A detector Tribune ships: a pattern for candidates plus, where the format has one, a
/// validator (checksum, numbering rules, context) that keeps false positives low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// AWS access key ids (`AKIA...`, `ASIA...`).
    AwsAccessKey,
    /// GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// Slack tokens (`xoxb-`, `xoxp-`, ...) and incoming-webhook urls.
    SlackToken,
    /// Stripe live secret and restricted keys (`sk_live_`, `rk_live_`).
    StripeKey,
    /// Google API keys (`AIza...`).
    GoogleApiKey,
    /// Anthropic API keys (`sk-ant-api03-...`).
    AnthropicKey,
    /// OpenAI API keys (`sk-proj-...`, `sk-svcacct-...`, legacy `sk-...`).
    OpenaiKey,
    /// PEM private keys, `-----BEGIN ... PRIVATE KEY-----` through the matching END line.
    PrivateKey,
    /// US social security numbers, `123-45-6789` or `123 45 6789`, by the SSA's numbering rules.
    Ssn,
    /// Payment card numbers of the major networks, 13 to 19 digits, Luhn-checked.
    PaymentCard,
    /// International bank account numbers: ISO 13616 mod-97 checksum and per-country length.
    Iban,
    /// E-mail addresses (not the user part of a URL).
    Email,
    /// Phone numbers: international `+CC ...` (8 to 15 digits) and North American formats.
    Phone,
}

/// `(?-u:\b)`: an ASCII word boundary. A Unicode `\b` would make the lazy DFA quit on the
/// first non-ASCII byte, so no built-in uses one.
macro_rules! b {
    () => {
        r"(?-u:\b)"
    };
}

impl Builtin {
    /// Every built-in, in the order the scanner prefers them when two match at the same place:
    /// vendor secrets (unambiguous prefixes) first, then validated numbers, e-mail and phone.
    pub const ALL: [Builtin; 13] = [
        Builtin::AwsAccessKey,
        Builtin::GithubToken,
        Builtin::SlackToken,
        Builtin::StripeKey,
        Builtin::GoogleApiKey,
        Builtin::AnthropicKey,
        Builtin::OpenaiKey,
        Builtin::PrivateKey,
        Builtin::Ssn,
        Builtin::PaymentCard,
        Builtin::Iban,
        Builtin::Email,
        Builtin::Phone,
    ];

    /// The detector id, as written in bundles and markers.
    pub fn id(self) -> &'static str {
        match self {
            Builtin::AwsAccessKey => "aws-access-key",
            Builtin::GithubToken => "github-token",
            Builtin::SlackToken => "slack-token",
            Builtin::StripeKey => "stripe-key",
            Builtin::GoogleApiKey => "google-api-key",
            Builtin::AnthropicKey => "anthropic-key",
            Builtin::OpenaiKey => "openai-key",
            Builtin::PrivateKey => "private-key",
            Builtin::Ssn => "ssn",
            Builtin::PaymentCard => "payment-card",
            Builtin::Iban => "iban",
            Builtin::Email => "email",
            Builtin::Phone => "phone",
        }
    }

    /// The built-in with id `id`.
    pub fn from_id(id: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.id() == id)
    }

    /// The candidate pattern. Only ASCII classes and ASCII word boundaries, so the one-pass
    /// automaton stays a DFA over any text.
    ///
    /// INVARIANT(bounded-candidates): a pattern whose candidates can fail validation is
    /// bounded before its first required literal (the e-mail local part is at most 64
    /// characters, the number patterns have fixed maxima), so a search never keeps a
    /// non-matching thread alive over a long run; with restarts after rejected candidates
    /// this keeps scanning linear in the text.
    pub fn pattern(self) -> &'static str {
        match self {
            Builtin::AwsAccessKey => concat!(b!(), "(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", b!()),
            Builtin::GithubToken => concat!(
                b!(),
                "(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"
            ),
            Builtin::SlackToken => concat!(
                b!(),
                "(?:xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\\.slack\\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)"
            ),
            Builtin::StripeKey => concat!(b!(), "[sr]k_live_[A-Za-z0-9]{24,}"),
            Builtin::GoogleApiKey => concat!(b!(), "AIza[A-Za-z0-9_-]{35}"),
            Builtin::AnthropicKey => concat!(b!(), "sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{32,}"),
            Builtin::OpenaiKey => concat!(
                b!(),
                "sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48}",
                b!(),
                ")"
            ),
            // The body runs lazily to the first END line; a key cut off before its END line
            // takes the base64 that follows, so a truncated key is still covered.
            Builtin::PrivateKey => {
                "-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\\t\\n\\r \\\\:,.-]*?-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\\t\\n\\r \\\\]*)"
            }
            Builtin::Ssn => concat!(b!(), "[0-9]{3}(?:-[0-9]{2}-|[ ][0-9]{2}[ ])[0-9]{4}", b!()),
            Builtin::PaymentCard => concat!(b!(), "[0-9](?:[ -]?[0-9]){12,18}", b!()),
            Builtin::Iban => concat!(b!(), "[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}", b!()),
            Builtin::Email => concat!(
                b!(),
                "[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,63}",
                b!()
            ),
            Builtin::Phone => concat!(
                "(?:\\+[1-9](?:[ .-]?[0-9]){7,14}",
                "|\\+[1-9][0-9]{0,2}[ .-]?\\([0-9]{1,4}\\)[ .-]?[0-9](?:[ .-]?[0-9]){5,11}",
                "|(?:\\([2-9][0-9]{2}\\)[ ]?|",
                b!(),
                "[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4})",
                b!()
            ),
        }
    }

    /// Checks a candidate the pattern matched at `span` of `text`; returns the span to report
    /// (possibly shorter, e.g. a card number without the digits that followed it) or `None`.
    pub(crate) fn accept(self, text: &str, span: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
        match self {
            Builtin::Ssn => validate::ssn(text, span),
            Builtin::PaymentCard => validate::payment_card(text, span),
            Builtin::Iban => validate::iban(text, span),
            Builtin::Email => validate::email(text, span),
            Builtin::Phone => validate::phone(text, span),
            Builtin::AwsAccessKey
            | Builtin::GithubToken
            | Builtin::SlackToken
            | Builtin::StripeKey
            | Builtin::GoogleApiKey
            | Builtin::AnthropicKey
            | Builtin::OpenaiKey
            | Builtin::PrivateKey => Some(span),
        }
    }
}

/// What a detector matches.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A built-in, with its validator.
    Builtin(Builtin),
    /// A declared regular expression, reported as matched.
    Pattern(String),
}

/// The gist of a regex error on one line: the parser prints the pattern, a caret line and
/// then `error: WHAT`; a located bundle diagnostic already points at the pattern.
fn one_line(message: &str) -> String {
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message);
    last.trim().trim_start_matches("error: ").to_owned()
}

/// One detector: what it matches and the data class of its findings.
#[derive(Clone, PartialEq, Eq)]
pub struct Detector {
    pub(crate) id: DetectorId,
    pub(crate) class: DataClass,
    pub(crate) kind: Kind,
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Detector");
        d.field("id", &self.id).field("class", &self.class);
        match &self.kind {
            Kind::Builtin(b) => d.field("builtin", b),
            Kind::Pattern(p) => d.field("pattern", p),
        };
        d.finish()
    }
}

impl Detector {
    /// The built-in `builtin`, reporting findings as `class`.
    pub fn builtin(builtin: Builtin, class: DataClass) -> Detector {
        Detector {
            // INVARIANT(detector-id-charset): built-in ids are kebab-case literals.
            id: DetectorId(builtin.id().into()),
            class,
            kind: Kind::Builtin(builtin),
        }
    }

    /// A declared pattern (Rust `regex` syntax), checked on its own so an error names it: it
    /// must compile, must not match the empty string, and must not use a Unicode `\b`.
    pub fn pattern(id: &str, regex: &str, class: DataClass) -> Result<Detector, DlpError> {
        let id = DetectorId::new(id)?;
        let hir = regex_automata::util::syntax::parse(regex).map_err(|e| DlpError::BadPattern {
            id: id.to_string(),
            message: one_line(&e.to_string()),
        })?;
        let props = hir.properties();
        if props.minimum_len() == Some(0) {
            return Err(DlpError::EmptyMatch { id: id.to_string() });
        }
        if props.look_set().contains_word_unicode() {
            return Err(DlpError::UnicodeWordBoundary { id: id.to_string() });
        }
        // Parsing can succeed where compiling fails (size limits): compile it alone too.
        regex_automata::meta::Regex::new(regex).map_err(|e| DlpError::BadPattern {
            id: id.to_string(),
            message: one_line(&e.to_string()),
        })?;
        Ok(Detector {
            id,
            class,
            kind: Kind::Pattern(regex.to_owned()),
        })
    }

    /// Every built-in, each reporting findings as `class`.
    pub fn all_builtins(class: &DataClass) -> Vec<Detector> {
        Builtin::ALL
            .into_iter()
            .map(|b| Detector::builtin(b, class.clone()))
            .collect()
    }

    /// Its id.
    pub fn id(&self) -> &DetectorId {
        &self.id
    }

    /// The data class of its findings.
    pub fn class(&self) -> &DataClass {
        &self.class
    }

    /// The built-in it is, if it is one.
    pub fn as_builtin(&self) -> Option<Builtin> {
        match self.kind {
            Kind::Builtin(b) => Some(b),
            Kind::Pattern(_) => None,
        }
    }

    pub(crate) fn regex(&self) -> &str {
        match &self.kind {
            Kind::Builtin(b) => b.pattern(),
            Kind::Pattern(p) => p,
        }
    }
}
