//! From bundle files to a [`Bundle`]: one function, used by `check`, `serve` and reload alike.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Location, SourceFile};
use crate::ids::{Classification, Destination, Id, McpTransport, ProviderKind, Tier};
use crate::input::record_from_schema;
use crate::model::*;
use crate::raw::*;

/// The files of a bundle, read but not yet understood.
#[derive(Clone, Debug)]
pub struct BundleSources {
    /// `tribune.toml`.
    pub manifest: SourceFile,
    /// `policies/*.cedar`.
    pub policy_files: Vec<SourceFile>,
}

/// The manifest's file name inside a bundle directory.
pub const MANIFEST: &str = "tribune.toml";

/// The default classification scale when the bundle declares none.
pub const DEFAULT_SCALE: [&str; 4] = ["public", "internal", "confidential", "restricted"];

/// Builds a [`Bundle`] from its sources, or returns every error found (with any warnings).
pub fn parse(sources: BundleSources) -> Result<Bundle, Vec<Diagnostic>> {
    let raw: RawBundle = match toml::from_str(&sources.manifest.text) {
        Ok(raw) => raw,
        Err(e) => {
            let location = match e.span() {
                Some(span) => sources.manifest.locate(&span),
                None => Location::file(&sources.manifest.path),
            };
            let message = e.message().trim().replace('\n', " ");
            return Err(vec![Diagnostic::error(location, toml_code(&message), message)]);
        }
    };
    let mut cx = Cx {
        file: &sources.manifest,
        diagnostics: Vec::new(),
    };
    let bundle = cx.build(raw, &sources);
    if Bundle::has_errors(&cx.diagnostics) {
        cx.diagnostics.sort();
        return Err(cx.diagnostics);
    }
    match bundle {
        Some(mut bundle) => {
            bundle.findings = cx.diagnostics;
            Ok(bundle)
        }
        None => Err(cx.diagnostics),
    }
}

fn toml_code(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown-key"
    } else if message.starts_with("missing field") {
        "missing-key"
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "wrong-type"
    } else if message.contains("duplicate key") {
        "duplicate-id"
    } else if message.starts_with("unknown variant") {
        "unknown-value"
    } else {
        "syntax"
    }
}

struct Cx<'a> {
    file: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.file.locate(&s.span())
    }

    fn error<T>(&mut self, at: &Spanned<T>, code: &'static str, message: String) {
        let location = self.at(at);
        self.diagnostics.push(Diagnostic::error(location, code, message));
    }

    fn warn<T>(&mut self, at: &Spanned<T>, code: &'static str, message: String) {
        let location = self.at(at);
        self.diagnostics
            .push(Diagnostic::warning(location, code, message));
    }

    fn id(&mut self, s: &Spanned<String>) -> Option<Id> {
        match Id::parse(s.get_ref()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(s, "bad-id", e.to_string());
                None
            }
        }
    }

    /// Resolves a reference to something declared in `table`, reporting a dangling one.
    fn reference<T>(
        &mut self,
        s: &Spanned<String>,
        table: &BTreeMap<Spanned<String>, Spanned<T>>,
        from: &str,
        what: &str,
    ) -> Option<Id> {
        let id = self.id(s)?;
        if table.keys().any(|k| k.get_ref() == id.as_str()) {
            Some(id)
        } else {
            self.error(
                s,
                "dangling-reference",
                format!("{from} names {what} `{id}`, which is not declared"),
            );
            None
        }
    }

    fn build(&mut self, raw: RawBundle, sources: &BundleSources) -> Option<Bundle> {
        let deployment = self.deployment(&raw.deployment);
        let floor = self.floor(raw.autonomy.as_ref().and_then(|a| a.floor.as_ref()));
        let default_reviewer_pool = match raw
            .autonomy
            .as_ref()
            .and_then(|a| a.default_reviewer_pool.as_ref())
        {
            Some(p) => self.reference(
                p,
                &raw.reviewer_pools,
                "`[autonomy] default_reviewer_pool`",
                "reviewer pool",
            ),
            None => None,
        };
        let (classifications, default_class) = self.scale(raw.data.as_ref());
        let context = self.context(&raw.context);

        let humans = self.humans(&raw.humans);
        let reviewer_pools = self.pools(&raw);
        let identities = self.identities(raw.identities.as_ref());
        let oidc = raw.oidc.as_ref().and_then(|o| self.oidc(o));
        let classes = self.classes(&raw.classes, &floor, &identities.lifecycle);
        let agents = self.agents(&raw);
        let services = self.services(&raw);
        let providers = self.providers(&raw.providers, &raw.humans);
        let tools = self.tools(
            &raw,
            &classifications,
            default_class.as_ref(),
            default_reviewer_pool.as_ref(),
        );

        let retention = self.retention(raw.retention.as_ref(), &classifications);
        let hitl = self.hitl(raw.hitl.as_ref());
        let dlp = self.dlp(raw.dlp.as_ref(), &classifications);
        let compliance = self.compliance(raw.compliance.as_ref());
        let trust = self.trust(raw.trust.as_ref());
        let taint = self.taint(raw.taint.as_ref());
        let drills = self.drills(raw.drills.as_ref(), &raw);
        let redteam = self.redteam(raw.redteam.as_ref());
        let incidents = self.incidents(raw.incidents.as_ref(), &raw, &classifications, &hitl);
        let hash = bundle_hash(sources);
        let version = deployment.1.unwrap_or_else(|| hash.chars().take(12).collect());
        let bundle = Bundle {
            deployment: Deployment {
                name: deployment.0?,
                version,
                description: raw.deployment.get_ref().description.clone(),
            },
            hash,
            floor,
            default_reviewer_pool,
            classifications,
            context,
            humans,
            reviewer_pools,
            classes,
            agents,
            services,
            providers,
            tools,
            retention,
            hitl,
            dlp,
            compliance,
            identities,
            oidc,
            drills,
            redteam,
            trust,
            incidents,
            vetting: Vetting {
                required: raw.vetting.as_ref().and_then(|v| v.required).unwrap_or(true),
            },
            taint,
            manifest: sources.manifest.clone(),
            policy_files: sources.policy_files.clone(),
            findings: Vec::new(),
        };
        self.lint(&bundle, &raw);
        Some(bundle)
    }

    fn deployment(&mut self, d: &Spanned<RawDeployment>) -> (Option<String>, Option<String>) {
        let name = d.get_ref().name.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 200
            && name.chars().all(|c| c.is_ascii_graphic())
            && !name.contains('+');
        if !ok {
            let message = format!(
                "deployment name `{name}` must be 1 to 200 visible ASCII characters without spaces or `+` (it names the ledger's signing key)"
            );
            self.error(&d.get_ref().name, "bad-value", message);
            return (None, None);
        }
        (Some(name.clone()), d.get_ref().version.clone())
    }

    fn floor(&mut self, raw: Option<&RawTierRules>) -> TierRules {
        let mut floor = TierRules::DEFAULT_FLOOR;
        if let Some(raw) = raw {
            for tier in Tier::ALL {
                if let Some(rule) = raw.get(tier) {
                    let r = rule.get_ref();
                    apply_tier_override(
                        &mut floor,
                        tier,
                        r.approvals.as_ref().map(|a| *a.get_ref()),
                        r.mfa.as_ref().map(|m| *m.get_ref()),
                    );
                }
            }
        }
        floor
    }

    fn scale(&mut self, data: Option<&Spanned<RawData>>) -> (Vec<Id>, Option<Classification>) {
        let Some(data) = data else {
            let scale: Vec<Id> = DEFAULT_SCALE.iter().filter_map(|s| Id::parse(s).ok()).collect();
            let default = scale.get(1).map(|name| Classification {
                name: name.clone(),
                rank: 1,
            });
            return (scale, default);
        };
        let data = data.get_ref();
        let mut scale: Vec<Id> = Vec::new();
        for level in data.classifications.get_ref() {
            if let Some(id) = self.id(level) {
                if scale.contains(&id) {
                    self.error(
                        level,
                        "duplicate-id",
                        format!("classification `{id}` is listed twice"),
                    );
                } else {
                    scale.push(id);
                }
            }
        }
        if scale.is_empty() {
            self.error(
                &data.classifications,
                "bad-value",
                "`classifications` needs at least one level".to_owned(),
            );
        }
        let default = data
            .default
            .as_ref()
            .and_then(|d| classification(self, d, &scale, "`[data] default`"));
        (scale, default)
    }

    fn context(&mut self, raw: &BTreeMap<Spanned<String>, Spanned<String>>) -> BTreeMap<String, ContextType> {
        let mut out = BTreeMap::new();
        for (name, ty) in raw {
            if self.id(name).is_none() {
                continue;
            }
            let ty = match ty.get_ref().as_str() {
                "string" => ContextType::String,
                "long" => ContextType::Long,
                "bool" => ContextType::Bool,
                other => {
                    self.error(
                        ty,
                        "unknown-value",
                        format!("context attribute type `{other}` is not one of `string`, `long`, `bool`"),
                    );
                    continue;
                }
            };
            out.insert(name.get_ref().clone(), ty);
        }
        out
    }

    fn retention(&mut self, raw: Option<&RawRetention>, scale: &[Id]) -> Vec<RetentionRule> {
        let mut out: Vec<RetentionRule> = Vec::new();
        for rule in raw.map(|r| r.rules.as_slice()).unwrap_or_default() {
            let r = rule.get_ref();
            let event = *r.event.get_ref();
            let classification = match &r.classification {
                Some(c) => match classification(self, c, scale, "a retention rule") {
                    Some(c) => Some(c.name),
                    None => continue,
                },
                None => None,
            };
            if *r.keep_days.get_ref() == 0 {
                self.error(
                    &r.keep_days,
                    "bad-value",
                    "`keep_days` must be at least 1".to_owned(),
                );
                continue;
            }
            if out
                .iter()
                .any(|o| o.event == event && o.classification == classification)
            {
                let what = classification
                    .as_ref()
                    .map_or(String::new(), |c| format!(" and classification `{c}`"));
                self.error(
                    rule,
                    "duplicate-id",
                    format!(
                        "a retention rule for event `{}`{what} is already declared",
                        event.as_str()
                    ),
                );
                continue;
            }
            out.push(RetentionRule {
                event,
                classification,
                keep_days: *r.keep_days.get_ref(),
                location: self.at(rule),
            });
        }
        out
    }

    fn hitl(&mut self, raw: Option<&Spanned<RawHitl>>) -> Hitl {
        let mut hitl = Hitl::DEFAULT;
        let Some(table) = raw else { return hitl };
        let r = table.get_ref();
        let limits: [(&Option<Spanned<u32>>, &str, u32, &mut std::num::NonZeroU32); 5] = [
            (&r.expiry_secs, "expiry_secs", 7 * 86_400, &mut hitl.expiry_secs),
            (
                &r.approval_valid_for_secs,
                "approval_valid_for_secs",
                86_400,
                &mut hitl.approval_valid_for_secs,
            ),
            (
                &r.reviewer_capacity,
                "reviewer_capacity",
                10_000,
                &mut hitl.reviewer_capacity,
            ),
            (
                &r.agent_pending_cap,
                "agent_pending_cap",
                10_000,
                &mut hitl.agent_pending_cap,
            ),
            (
                &r.pool_rate_per_minute,
                "pool_rate_per_minute",
                100_000,
                &mut hitl.pool_rate_per_minute,
            ),
        ];
        let mut errors = Vec::new();
        for (value, key, max, slot) in limits {
            let Some(v) = value else { continue };
            match std::num::NonZeroU32::new(*v.get_ref()) {
                Some(n) if n.get() <= max => *slot = n,
                _ => errors.push((
                    v.span(),
                    format!("`[hitl] {key}` must be between 1 and {max}, not {}", v.get_ref()),
                )),
            }
        }
        if let Some(w) = &r.max_wait_secs {
            if *w.get_ref() <= 300 {
                hitl.max_wait_secs = *w.get_ref();
            } else {
                errors.push((
                    w.span(),
                    format!("`[hitl] max_wait_secs` must be at most 300, not {}", w.get_ref()),
                ));
            }
        }
        for (span, message) in errors {
            let location = self.file.locate(&span);
            self.diagnostics
                .push(Diagnostic::error(location, "bad-value", message));
        }
        hitl.reviewer_capacity_at = r.reviewer_capacity.as_ref().map(|v| self.at(v));
        hitl.webhook = match (&r.webhook_url, &r.webhook_secret_env) {
            (None, None) => None,
            (Some(url), Some(env)) => self.webhook(url, env),
            (Some(_), None) => {
                self.error(
                    table,
                    "missing-key",
                    "`[hitl] webhook_url` needs `webhook_secret_env`, the environment variable that holds the signing key".to_owned(),
                );
                None
            }
            (None, Some(env)) => {
                self.error(
                    env,
                    "missing-key",
                    "`[hitl] webhook_secret_env` is set but `webhook_url` is not".to_owned(),
                );
                None
            }
        };
        hitl
    }

    /// The `[taint]` table: each bound between 1 and its maximum.
    fn taint(&mut self, raw: Option<&Spanned<RawTaint>>) -> Taint {
        let mut taint = Taint::DEFAULT;
        let Some(table) = raw else { return taint };
        let r = table.get_ref();
        let limits: [(&Option<Spanned<u32>>, &str, u32, &mut std::num::NonZeroU32); 3] = [
            (&r.max_values, "max_values", 65_536, &mut taint.max_values),
            (
                &r.max_sessions,
                "max_sessions",
                1_000_000,
                &mut taint.max_sessions,
            ),
            (&r.ttl_secs, "ttl_secs", 30 * 86_400, &mut taint.ttl_secs),
        ];
        let mut errors = Vec::new();
        for (value, key, max, slot) in limits {
            let Some(v) = value else { continue };
            match std::num::NonZeroU32::new(*v.get_ref()) {
                Some(n) if n.get() <= max => *slot = n,
                _ => errors.push((
                    v.span(),
                    format!("`[taint] {key}` must be between 1 and {max}, not {}", v.get_ref()),
                )),
            }
        }
        for (span, message) in errors {
            let location = self.file.locate(&span);
            self.diagnostics
                .push(Diagnostic::error(location, "bad-value", message));
        }
        taint
    }

    /// The `[trust]` table. Without it the defaults apply, not enforced (`Trust::enforced`):
    /// scores are kept and shown, but no call is held or denied for one.
    fn trust(&mut self, raw: Option<&Spanned<RawTrust>>) -> Trust {
        let mut trust = Trust::DEFAULT;
        let Some(table) = raw else { return trust };
        trust.enforced = true;
        let r = table.get_ref();
        let score = |cx: &mut Self, v: &Option<Spanned<i64>>, key: &str, slot: &mut u16| {
            let Some(v) = v else { return };
            match u16::try_from(*v.get_ref()) {
                Ok(n) if n <= 1000 => *slot = n,
                _ => cx.error(
                    v,
                    "bad-value",
                    format!("`[trust] {key}` must be between 0 and 1000, not {}", v.get_ref()),
                ),
            }
        };
        score(self, &r.baseline, "baseline", &mut trust.baseline);
        score(self, &r.review_below, "review_below", &mut trust.review_below);
        score(self, &r.block_below, "block_below", &mut trust.block_below);
        if trust.block_below > trust.review_below {
            let message = format!(
                "`[trust] block_below` ({}) must not be above `review_below` ({})",
                trust.block_below, trust.review_below
            );
            match (&r.block_below, &r.review_below) {
                (Some(at), _) | (None, Some(at)) => self.error(at, "bad-value", message),
                (None, None) => self.error(table, "bad-value", message),
            }
        }
        if trust.baseline < trust.block_below {
            let message = format!(
                "`[trust] baseline` ({}) is below `block_below` ({}): every principal would be denied",
                trust.baseline, trust.block_below
            );
            match (&r.baseline, &r.block_below) {
                (Some(at), _) | (None, Some(at)) => self.error(at, "bad-value", message),
                (None, None) => self.error(table, "bad-value", message),
            }
        }
        const MAX_HALF_LIFE_MS: f64 = 365.0 * 86_400_000.0;
        match (&r.half_life_hours, &r.half_life_secs) {
            (Some(_), Some(secs)) => self.error(
                secs,
                "bad-value",
                "`[trust]` sets both `half_life_hours` and `half_life_secs`; keep one".to_owned(),
            ),
            (Some(hours), None) => {
                let ms = hours.get_ref() * 3_600_000.0;
                if (1000.0..=MAX_HALF_LIFE_MS).contains(&ms) {
                    // INVARIANT(half-life-range): checked just above to be 1 s to 365 days.
                    trust.half_life_ms = ms.round() as u64;
                } else {
                    self.error(
                        hours,
                        "bad-value",
                        format!(
                            "`[trust] half_life_hours` must be between 1 second and 365 days, not {}",
                            hours.get_ref()
                        ),
                    );
                }
            }
            (None, Some(secs)) => match u64::try_from(*secs.get_ref()) {
                Ok(s) if (1..=365 * 86_400).contains(&s) => trust.half_life_ms = s * 1000,
                _ => self.error(
                    secs,
                    "bad-value",
                    format!(
                        "`[trust] half_life_secs` must be between 1 and 31536000 (365 days), not {}",
                        secs.get_ref()
                    ),
                ),
            },
            (None, None) => {}
        }
        if let Some(e) = &r.events {
            let w = &mut trust.events;
            let deltas: [(&Option<Spanned<i64>>, &str, &mut i32); 7] = [
                (&e.allowed, "allowed", &mut w.allowed),
                (&e.forbidden, "forbidden", &mut w.forbidden),
                (
                    &e.provider_forbidden,
                    "provider_forbidden",
                    &mut w.provider_forbidden,
                ),
                (&e.dlp, "dlp", &mut w.dlp),
                (&e.approval_refused, "approval_refused", &mut w.approval_refused),
                (&e.redteam_failure, "redteam_failure", &mut w.redteam_failure),
                (&e.incident, "incident", &mut w.incident),
            ];
            for (value, key, slot) in deltas {
                let Some(v) = value else { continue };
                match i32::try_from(*v.get_ref()) {
                    Ok(n) if (-1000..=1000).contains(&n) => *slot = n,
                    _ => self.diagnostics.push(Diagnostic::error(
                        self.file.locate(&v.span()),
                        "bad-value",
                        format!(
                            "`[trust.events] {key}` must be between -1000 and 1000, not {}",
                            v.get_ref()
                        ),
                    )),
                }
            }
        }
        trust
    }

    /// The `[dlp]` table. Built-ins report the most sensitive level of the scale unless
    /// `[dlp.classifications]` says otherwise; declared patterns come after the built-ins, so a
    /// built-in wins where both match at one place.
    fn dlp(&mut self, raw: Option<&Spanned<RawDlp>>, scale: &[Id]) -> Dlp {
        use tribune_dlp::{Builtin, DataClass, Detector, Policy, Scanner};
        let empty = RawDlp {
            detectors: None,
            classifications: BTreeMap::new(),
            actions: BTreeMap::new(),
            flows: BTreeMap::new(),
            patterns: Vec::new(),
        };
        let r = raw.map_or(&empty, |t| t.get_ref());
        let builtin_ids = || Builtin::ALL.map(Builtin::id).join(", ");
        let mut enabled: Vec<Builtin> = Vec::new();
        match &r.detectors {
            None => enabled.extend(Builtin::ALL),
            Some(list) => {
                for name in list {
                    match Builtin::from_id(name.get_ref()) {
                        Some(b) if enabled.contains(&b) => self.error(
                            name,
                            "duplicate-id",
                            format!("`[dlp] detectors` lists `{}` twice", b.id()),
                        ),
                        Some(b) => enabled.push(b),
                        None => {
                            let message = format!(
                                "`[dlp] detectors` names `{}`, which is not a built-in detector (one of {})",
                                name.get_ref(),
                                builtin_ids()
                            );
                            self.error(name, "unknown-value", message);
                        }
                    }
                }
            }
        }
        // Keep the scanner's priority order whatever order the bundle lists them in.
        enabled.sort_by_key(|b| Builtin::ALL.iter().position(|a| a == b));

        let top = scale
            .last()
            .map_or_else(|| DataClass::new("restricted"), |c| DataClass::new(c.as_str()));
        let mut builtin_class: BTreeMap<Builtin, DataClass> = BTreeMap::new();
        for (detector, level) in &r.classifications {
            let Some(b) = Builtin::from_id(detector.get_ref()) else {
                let message = format!(
                    "`[dlp.classifications]` names `{}`, which is not a built-in detector (one of {}); a pattern declares its own `classification`",
                    detector.get_ref(),
                    builtin_ids()
                );
                self.error(detector, "unknown-value", message);
                continue;
            };
            let from = format!("`[dlp.classifications] {}`", b.id());
            if let Some(c) = classification(self, level, scale, &from) {
                builtin_class.insert(b, DataClass::new(c.name.as_str()));
            }
        }
        let mut detectors: Vec<Detector> = enabled
            .iter()
            .map(|&b| Detector::builtin(b, builtin_class.get(&b).cloned().unwrap_or_else(|| top.clone())))
            .collect();

        let mut patterns: Vec<DlpPattern> = Vec::new();
        let mut seen: Vec<Id> = Vec::new();
        for pattern in &r.patterns {
            let p = pattern.get_ref();
            let Some(id) = self.id(&p.id) else { continue };
            if Builtin::from_id(id.as_str()).is_some() {
                self.error(
                    &p.id,
                    "duplicate-id",
                    format!("DLP pattern `{id}` has the id of a built-in detector"),
                );
                continue;
            }
            if seen.contains(&id) {
                self.error(
                    &p.id,
                    "duplicate-id",
                    format!("DLP pattern `{id}` is declared twice"),
                );
                continue;
            }
            seen.push(id.clone());
            let from = format!("DLP pattern `{id}`");
            let class = classification(self, &p.classification, scale, &from);
            let name = class.as_ref().map_or("", |c| c.name.as_str());
            match (
                Detector::pattern(id.as_str(), p.regex.get_ref(), DataClass::new(name)),
                class,
            ) {
                (Ok(d), Some(class)) => {
                    detectors.push(d);
                    patterns.push(DlpPattern {
                        id,
                        classification: class.name,
                        description: p.description.clone(),
                        location: self.at(pattern),
                    });
                }
                (Ok(_), None) => {}
                (Err(e), _) => self.error(&p.regex, "bad-value", e.to_string()),
            }
        }

        let mut actions = Vec::new();
        for (level, action) in &r.actions {
            let Some(c) = classification(self, level, scale, "`[dlp.actions]`") else {
                continue;
            };
            actions.push((DataClass::new(c.name.as_str()), *action.get_ref()));
        }

        // `[dlp.flows]`: the farthest destination each class may be sent to.
        let mut flows = BTreeMap::new();
        for (level, destination) in &r.flows {
            let Some(c) = classification(self, level, scale, "`[dlp.flows]`") else {
                continue;
            };
            let class = DataClass::new(c.name.as_str());
            if !detectors.iter().any(|d| *d.class() == class) {
                self.warn(
                    level,
                    "unused",
                    format!("`[dlp.flows] {class}` never applies: no enabled detector reports classification `{class}`"),
                );
            }
            flows.insert(class, *destination.get_ref());
        }

        let scanner = match Scanner::new(&detectors) {
            Ok(s) => s,
            Err(e) => {
                let location = raw.map_or_else(|| Location::file(&self.file.path), |t| self.at(t));
                self.diagnostics
                    .push(Diagnostic::error(location, "bad-value", e.to_string()));
                Scanner::default()
            }
        };
        Dlp {
            detectors,
            scanner,
            policy: Policy::new(actions),
            flows,
            patterns,
        }
    }

    /// The `[compliance]` table. Mandate ids are only parsed here: the packs ship in
    /// `tribune-compliance`, which `tribune check` asks to resolve them (this crate does not
    /// depend on it, and nothing in the decision path reads the table).
    fn compliance(&mut self, raw: Option<&Spanned<RawCompliance>>) -> Compliance {
        let Some(table) = raw else {
            return Compliance::default();
        };
        let r = table.get_ref();
        let mut mandates: Vec<Located<Id>> = Vec::new();
        for m in &r.mandates {
            let Some(id) = self.id(m) else { continue };
            if mandates.iter().any(|d| d.value == id) {
                self.error(
                    m,
                    "duplicate-id",
                    format!("`[compliance] mandates` lists `{id}` twice"),
                );
                continue;
            }
            let location = self.at(m);
            mandates.push(Located { value: id, location });
        }
        let activity_review_days = match &r.activity_review_days {
            Some(v) if (1..=366).contains(v.get_ref()) => Some(Located {
                value: *v.get_ref(),
                location: self.at(v),
            }),
            Some(v) => {
                let message = format!(
                    "`[compliance] activity_review_days` must be between 1 and 366, not {}",
                    v.get_ref()
                );
                self.error(v, "bad-value", message);
                None
            }
            None => None,
        };
        let mut two_person_tiers: Vec<Located<Tier>> = Vec::new();
        for t in &r.two_person_tiers {
            let tier = *t.get_ref();
            if two_person_tiers.iter().any(|d| d.value == tier) {
                self.error(
                    t,
                    "duplicate-id",
                    format!("`[compliance] two_person_tiers` lists `{tier}` twice"),
                );
                continue;
            }
            let location = self.at(t);
            two_person_tiers.push(Located {
                value: tier,
                location,
            });
        }
        Compliance {
            mandates,
            activity_review_days,
            two_person_tiers,
            location: Some(self.at(table)),
        }
    }

    /// The `[drills]` table: a cadence, and the scopes that may be drilled, each a stop scope
    /// whose id is declared.
    fn drills(&mut self, raw: Option<&Spanned<RawDrills>>, bundle: &RawBundle) -> Drills {
        let Some(table) = raw else {
            return Drills::default();
        };
        let r = table.get_ref();
        let cadence_days = match &r.cadence_days {
            Some(v) if (1..=366).contains(v.get_ref()) => Some(Located {
                value: *v.get_ref(),
                location: self.at(v),
            }),
            Some(v) => {
                let message = format!(
                    "`[drills] cadence_days` must be between 1 and 366, not {}",
                    v.get_ref()
                );
                self.error(v, "bad-value", message);
                None
            }
            None => None,
        };
        let target_ms = match &r.target_ms {
            Some(v) if (1..=60_000).contains(v.get_ref()) => Some(*v.get_ref()),
            Some(v) => {
                let message = format!(
                    "`[drills] target_ms` must be between 1 and 60000, not {}",
                    v.get_ref()
                );
                self.error(v, "bad-value", message);
                None
            }
            None => None,
        };
        let mut scopes: Vec<Located<String>> = Vec::new();
        for s in &r.scopes {
            let Some(scope) = self.drill_scope(s, bundle) else {
                continue;
            };
            if scopes.iter().any(|d| d.value == scope) {
                self.error(
                    s,
                    "duplicate-id",
                    format!("`[drills] scopes` lists `{scope}` twice"),
                );
                continue;
            }
            let location = self.at(s);
            scopes.push(Located {
                value: scope,
                location,
            });
        }
        if let Some(cadence) = &r.cadence_days
            && scopes.is_empty()
            && r.scopes.is_empty()
        {
            self.warn(
                cadence,
                "no-drill-scope",
                "`[drills] cadence_days` is declared but `scopes` names nothing to drill, so no drill can ever pass".to_owned(),
            );
        }
        Drills {
            cadence_days,
            scopes,
            target_ms,
            location: Some(self.at(table)),
        }
    }

    /// The `[redteam]` table: a cadence in days.
    fn redteam(&mut self, raw: Option<&Spanned<RawRedteam>>) -> Redteam {
        let Some(table) = raw else {
            return Redteam::default();
        };
        let cadence_days = match &table.get_ref().cadence_days {
            Some(v) if (1..=366).contains(v.get_ref()) => Some(Located {
                value: *v.get_ref(),
                location: self.at(v),
            }),
            Some(v) => {
                let message = format!(
                    "`[redteam] cadence_days` must be between 1 and 366, not {}",
                    v.get_ref()
                );
                self.error(v, "bad-value", message);
                None
            }
            None => None,
        };
        Redteam {
            cadence_days,
            location: Some(self.at(table)),
        }
    }

    /// One `[drills] scopes` entry: `all`, or `KIND:ID` with the id declared as that kind.
    fn drill_scope(&mut self, s: &Spanned<String>, bundle: &RawBundle) -> Option<String> {
        let text = s.get_ref();
        if text == "all" {
            return Some(text.clone());
        }
        fn declared<T>(table: &Table<T>, id: &str) -> bool {
            table.keys().any(|k| k.get_ref() == id)
        }
        let (kind, id) = text.split_once(':').unwrap_or(("", ""));
        let known = match kind {
            "class" => declared(&bundle.classes, id),
            "agent" => declared(&bundle.agents, id),
            "service" => declared(&bundle.services, id),
            "tool" => declared(&bundle.tools, id),
            "provider" => declared(&bundle.providers, id),
            _ => {
                self.error(
                    s,
                    "bad-value",
                    format!(
                        "`[drills] scopes` lists `{text}`, which is not a stop scope: use `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`"
                    ),
                );
                return None;
            }
        };
        if let Err(e) = Id::parse(id) {
            self.error(s, "bad-id", format!("`[drills] scopes` lists `{text}`: {e}"));
            return None;
        }
        if !known {
            let what = if kind == "class" { "agent class" } else { kind };
            self.error(
                s,
                "dangling-reference",
                format!("`[drills] scopes` names {what} `{id}`, which is not declared"),
            );
            return None;
        }
        Some(text.clone())
    }

    /// The `[incidents]` table: each trigger's `on` with exactly the keys that kind takes,
    /// its references resolved, and its actions (run in a fixed order: stops first, notify
    /// last, whatever order they are written in).
    fn incidents(
        &mut self,
        raw: Option<&Spanned<RawIncidents>>,
        bundle: &RawBundle,
        scale: &[Id],
        hitl: &Hitl,
    ) -> Incidents {
        let Some(table) = raw else {
            return Incidents::default();
        };
        let r = table.get_ref();
        let webhook = match (&r.webhook_url, &r.webhook_secret_env) {
            (None, None) => None,
            (Some(url), Some(env)) => self.webhook(url, env),
            (Some(_), None) => {
                self.error(
                    table,
                    "missing-key",
                    "`[incidents] webhook_url` needs `webhook_secret_env`, the environment variable that holds the signing key".to_owned(),
                );
                None
            }
            (None, Some(env)) => {
                self.error(
                    env,
                    "missing-key",
                    "`[incidents] webhook_secret_env` is set but `webhook_url` is not".to_owned(),
                );
                None
            }
        };
        let mut triggers: Vec<IncidentTrigger> = Vec::new();
        let mut seen: Vec<Id> = Vec::new();
        for spanned in &r.triggers {
            let t = spanned.get_ref();
            let id = self.id(&t.id);
            if let Some(id) = &id {
                if seen.contains(id) {
                    self.error(
                        &t.id,
                        "duplicate-id",
                        format!("incident trigger `{id}` is declared twice"),
                    );
                } else {
                    seen.push(id.clone());
                }
            }
            let name = id.as_ref().map_or_else(|| t.id.get_ref().clone(), Id::to_string);
            let from = format!("incident trigger `{name}`");
            let on = self.trigger_on(spanned, &from, bundle, scale);
            let actions = self.trigger_actions(t, &from, on.as_ref());
            if let (Some(id), Some(on), Some(actions)) = (id, on, (!actions.is_empty()).then_some(actions)) {
                if actions.contains(&IncidentAction::Notify) && webhook.is_none() && hitl.webhook.is_none() {
                    self.warn(
                        &t.actions,
                        "no-webhook",
                        format!(
                            "{from} notifies, but neither `[incidents]` nor `[hitl]` declares a `webhook_url`, so its notifications are skipped"
                        ),
                    );
                }
                let location = self.at(spanned);
                triggers.push(IncidentTrigger {
                    id,
                    on,
                    actions,
                    description: t.description.clone(),
                    location,
                });
            }
        }
        Incidents { triggers, webhook }
    }

    /// A trigger's `on`, checking that exactly the keys its kind takes are written.
    fn trigger_on(
        &mut self,
        spanned: &Spanned<RawIncidentTrigger>,
        from: &str,
        bundle: &RawBundle,
        scale: &[Id],
    ) -> Option<TriggerOn> {
        let t = spanned.get_ref();
        let kind = t.on.get_ref().as_str();
        let takes: &[&str] = match kind {
            "denials" => &["count", "window_secs"],
            "forbid" | "dlp" => &["classification"],
            "canary" => &["tool"],
            "trust_below" => &["threshold"],
            "drill_failed" => &[],
            other => {
                let message = format!(
                    "{from}: `on = \"{other}\"` is not a trigger (one of {})",
                    TriggerOn::KINDS.map(|k| format!("`{k}`")).join(", ")
                );
                self.error(&t.on, "unknown-value", message);
                return None;
            }
        };
        let written: [(&str, Option<std::ops::Range<usize>>); 5] = [
            ("count", t.count.as_ref().map(Spanned::span)),
            ("window_secs", t.window_secs.as_ref().map(Spanned::span)),
            ("classification", t.classification.as_ref().map(Spanned::span)),
            ("tool", t.tool.as_ref().map(Spanned::span)),
            ("threshold", t.threshold.as_ref().map(Spanned::span)),
        ];
        let mut ok = true;
        for (key, span) in &written {
            match span {
                Some(span) if !takes.contains(key) => {
                    let location = self.file.locate(span);
                    let message = format!("{from}: `{key}` does not apply to `on = \"{kind}\"`");
                    self.diagnostics
                        .push(Diagnostic::error(location, "unknown-key", message));
                    ok = false;
                }
                None if takes.contains(key) => {
                    self.error(
                        spanned,
                        "missing-key",
                        format!("{from}: `on = \"{kind}\"` needs `{key}`"),
                    );
                    ok = false;
                }
                _ => {}
            }
        }
        if !ok {
            return None;
        }
        match (
            kind,
            &t.count,
            &t.window_secs,
            &t.classification,
            &t.tool,
            &t.threshold,
        ) {
            ("denials", Some(count), Some(window), ..) => {
                let mut ok = true;
                for (v, key, max) in [(count, "count", 1000), (window, "window_secs", 86_400)] {
                    if !(1..=max).contains(v.get_ref()) {
                        let message =
                            format!("{from}: `{key}` must be between 1 and {max}, not {}", v.get_ref());
                        self.error(v, "bad-value", message);
                        ok = false;
                    }
                }
                ok.then(|| TriggerOn::Denials {
                    count: *count.get_ref(),
                    window_secs: *window.get_ref(),
                })
            }
            ("forbid", _, _, Some(c), ..) => classification(self, c, scale, from)
                .map(|classification| TriggerOn::Forbid { classification }),
            ("dlp", _, _, Some(c), ..) => {
                classification(self, c, scale, from).map(|classification| TriggerOn::Dlp { classification })
            }
            ("canary", _, _, _, Some(tool), _) => self
                .reference(tool, &bundle.tools, from, "tool")
                .map(|tool| TriggerOn::Canary { tool }),
            ("trust_below", .., Some(threshold)) => match u16::try_from(*threshold.get_ref()) {
                Ok(v) if (1..=1000).contains(&v) => Some(TriggerOn::TrustBelow { threshold: v }),
                _ => {
                    let message = format!(
                        "{from}: `threshold` must be between 1 and 1000 (trust scores run from 0 to 1000), not {}",
                        threshold.get_ref()
                    );
                    self.error(threshold, "bad-value", message);
                    None
                }
            },
            ("drill_failed", ..) => Some(TriggerOn::DrillFailed),
            // INVARIANT(trigger-keys): the loop above returned for a kind missing its keys.
            _ => None,
        }
    }

    /// A trigger's `actions`: known, each once, at least one, and each one its kind can run.
    fn trigger_actions(
        &mut self,
        t: &RawIncidentTrigger,
        from: &str,
        on: Option<&TriggerOn>,
    ) -> Vec<IncidentAction> {
        let mut actions: Vec<IncidentAction> = Vec::new();
        for a in t.actions.get_ref() {
            let Some(action) = IncidentAction::parse(a.get_ref()) else {
                let message = format!(
                    "{from}: `{}` is not an incident action (one of {})",
                    a.get_ref(),
                    IncidentAction::ALL
                        .map(|a| format!("`{}`", a.as_str()))
                        .join(", ")
                );
                self.error(a, "unknown-value", message);
                continue;
            };
            if actions.contains(&action) {
                self.error(
                    a,
                    "duplicate-id",
                    format!("{from} lists `{}` twice", action.as_str()),
                );
                continue;
            }
            if action.needs_principal() && matches!(on, Some(TriggerOn::DrillFailed)) {
                self.error(
                    a,
                    "bad-value",
                    format!(
                        "{from}: a failed drill names no agent, so it cannot `{}`; use `legal_hold` or `notify`",
                        action.as_str()
                    ),
                );
                continue;
            }
            actions.push(action);
        }
        if t.actions.get_ref().is_empty() {
            self.error(
                &t.actions,
                "bad-value",
                format!("{from} needs at least one action"),
            );
        }
        actions.sort();
        actions
    }

    fn webhook(&mut self, url: &Spanned<String>, env: &Spanned<String>) -> Option<Webhook> {
        let u = url.get_ref();
        let host = u
            .strip_prefix("http://")
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        let url_ok = match host {
            Some(host) => !host.is_empty() && u.len() <= 2048 && u.chars().all(|c| c.is_ascii_graphic()),
            None => false,
        };
        if !url_ok {
            let message = if u.starts_with("https://") {
                format!(
                    "webhook url `{u}`: https is not supported yet; point it at a local relay or TLS proxy over `http://`"
                )
            } else {
                format!("webhook url `{u}` must be `http://HOST[:PORT]/PATH`")
            };
            self.error(url, "bad-value", message);
        }
        let e = env.get_ref();
        let env_ok = !e.is_empty()
            && e.len() <= 128
            && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !e.starts_with(|c: char| c.is_ascii_digit());
        if !env_ok {
            self.error(
                env,
                "bad-value",
                format!("`{e}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"),
            );
        }
        (url_ok && env_ok).then(|| Webhook {
            url: u.clone(),
            secret_env: e.clone(),
            location: self.at(url),
        })
    }

    fn humans(&mut self, raw: &Table<RawHuman>) -> BTreeMap<Id, Human> {
        let mut out = BTreeMap::new();
        for (key, h) in raw {
            let Some(id) = self.id(key) else { continue };
            let mut roles = Vec::new();
            for role in &h.get_ref().roles {
                if let Some(r) = self.id(role) {
                    if roles.contains(&r) {
                        self.error(
                            role,
                            "duplicate-id",
                            format!("human `{id}` lists role `{r}` twice"),
                        );
                    } else {
                        roles.push(r);
                    }
                }
            }
            let h = h.get_ref();
            out.insert(
                id.clone(),
                Human {
                    id,
                    name: h.name.clone(),
                    email: h.email.clone(),
                    roles,
                    stop_authority: h.stop_authority,
                    location: self.at(key),
                },
            );
        }
        out
    }

    fn pools(&mut self, raw: &RawBundle) -> BTreeMap<Id, ReviewerPool> {
        let mut out = BTreeMap::new();
        for (key, p) in &raw.reviewer_pools {
            let Some(id) = self.id(key) else { continue };
            let mut members = Vec::new();
            for m in &p.get_ref().members {
                if let Some(h) = self.reference(m, &raw.humans, &format!("reviewer pool `{id}`"), "human") {
                    if members.contains(&h) {
                        self.error(
                            m,
                            "duplicate-id",
                            format!("reviewer pool `{id}` lists `{h}` twice"),
                        );
                    } else {
                        members.push(h);
                    }
                }
            }
            let location = self.at(key);
            out.insert(
                id.clone(),
                ReviewerPool {
                    id,
                    members,
                    description: p.get_ref().description.clone(),
                    location,
                },
            );
        }
        out
    }

    /// The `[identities]` table.
    fn identities(&mut self, raw: Option<&Spanned<RawIdentities>>) -> Identities {
        let mut out = Identities::DEFAULT;
        let Some(table) = raw else { return out };
        let r = table.get_ref();
        const MAX_TTL: u32 = 86_400;
        for (value, key, slot) in [
            (
                &r.credential_ttl_secs,
                "credential_ttl_secs",
                &mut out.credential_ttl_secs,
            ),
            (
                &r.max_credential_ttl_secs,
                "max_credential_ttl_secs",
                &mut out.max_credential_ttl_secs,
            ),
        ] {
            let Some(v) = value else { continue };
            if (60..=MAX_TTL).contains(v.get_ref()) {
                *slot = *v.get_ref();
            } else {
                self.error(
                    v,
                    "bad-value",
                    format!(
                        "`[identities] {key}` must be between 60 and {MAX_TTL} seconds, not {}",
                        v.get_ref()
                    ),
                );
            }
        }
        if r.max_credential_ttl_secs.is_none() {
            out.max_credential_ttl_secs = out.max_credential_ttl_secs.max(out.credential_ttl_secs);
        }
        if let Some(v) = &r.credential_ttl_secs
            && out.credential_ttl_secs > out.max_credential_ttl_secs
        {
            self.error(
                v,
                "bad-value",
                format!(
                    "`[identities] credential_ttl_secs` ({}) is longer than `max_credential_ttl_secs` ({})",
                    out.credential_ttl_secs, out.max_credential_ttl_secs
                ),
            );
        }
        if let Some(a) = &r.audience {
            let ok = !a.get_ref().is_empty()
                && a.get_ref().len() <= 256
                && a.get_ref().chars().all(|c| c.is_ascii_graphic());
            if ok {
                out.audience = a.get_ref().clone();
            } else {
                self.error(
                    a,
                    "bad-value",
                    format!("`[identities] audience` `{}` must be 1 to 256 printable ASCII characters without spaces", a.get_ref()),
                );
            }
        }
        out.require_approval = r.require_approval;
        out.require_credentials = r.require_credentials;
        out.lifecycle = self.lifecycle(&r.lifecycle(), &Lifecycle::NONE, "[identities]");
        out
    }

    /// Lifecycle terms: those written, the rest taken from `base`.
    fn lifecycle(&mut self, raw: &RawLifecycle, base: &Lifecycle, table: &str) -> Lifecycle {
        let mut out = *base;
        let days = |cx: &mut Self, v: &Option<Spanned<u32>>, key: &str, min: u32| -> Option<u32> {
            let v = v.as_ref()?;
            if (min..=36_500).contains(v.get_ref()) {
                Some(*v.get_ref())
            } else {
                cx.error(
                    v,
                    "bad-value",
                    format!(
                        "`{table} {key}` must be between {min} and 36500 days, not {}",
                        v.get_ref()
                    ),
                );
                None
            }
        };
        if let Some(d) = days(self, &raw.rotation_days, "rotation_days", 1) {
            out.rotation_days = Some(d);
        }
        if let Some(d) = days(self, &raw.rotation_grace_days, "rotation_grace_days", 0) {
            out.rotation_grace_days = d;
        }
        if let Some(d) = days(self, &raw.review_days, "review_days", 1) {
            out.review_days = Some(d);
        }
        if let Some(d) = days(self, &raw.review_grace_days, "review_grace_days", 0) {
            out.review_grace_days = d;
        }
        if let Some(d) = days(self, &raw.stale_days, "stale_days", 1) {
            out.stale_days = Some(d);
        }
        out
    }

    /// The `[oidc]` table.
    fn oidc(&mut self, table: &Spanned<RawOidc>) -> Option<Oidc> {
        let r = table.get_ref();
        let mut ok = true;
        for (v, key) in [(&r.issuer, "issuer"), (&r.audience, "audience")] {
            if v.get_ref().is_empty() || v.get_ref().len() > 2048 {
                self.error(
                    v,
                    "bad-value",
                    format!("`[oidc] {key}` must be 1 to 2048 characters"),
                );
                ok = false;
            }
        }
        let jwks = match (&r.jwks_file, &r.jwks_url) {
            (Some(f), None) => {
                let path = f.get_ref();
                let safe = !path.is_empty()
                    && !path.starts_with('/')
                    && !path.split(['/', '\\']).any(|part| part == "..");
                if !safe {
                    self.error(
                        f,
                        "bad-value",
                        format!("`[oidc] jwks_file` `{path}` must be a path inside the bundle directory"),
                    );
                    ok = false;
                }
                Some(JwksSource::File(path.clone()))
            }
            (None, Some(u)) => {
                let url = u.get_ref();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                    self.error(
                        u,
                        "bad-value",
                        format!("`[oidc] jwks_url` `{url}` must be an http:// or https:// URL"),
                    );
                    ok = false;
                }
                Some(JwksSource::Url(url.clone()))
            }
            (Some(_), Some(u)) => {
                self.error(
                    u,
                    "conflicting-keys",
                    "`[oidc]` takes `jwks_file` or `jwks_url`, not both".to_owned(),
                );
                None
            }
            (None, None) => {
                self.error(
                    table,
                    "missing-key",
                    "`[oidc]` needs `jwks_file` or `jwks_url`, where the provider's signing keys are"
                        .to_owned(),
                );
                None
            }
        };
        let claim = r
            .claim
            .as_ref()
            .map_or_else(|| "email".to_owned(), |c| c.get_ref().clone());
        if claim.is_empty() || claim.len() > 128 {
            if let Some(c) = &r.claim {
                self.error(
                    c,
                    "bad-value",
                    "`[oidc] claim` must be 1 to 128 characters".to_owned(),
                );
            }
            ok = false;
        }
        let location = self.at(table);
        (ok).then_some(())?;
        Some(Oidc {
            issuer: r.issuer.get_ref().clone(),
            audience: r.audience.get_ref().clone(),
            jwks: jwks?,
            claim,
            location,
        })
    }

    fn classes(
        &mut self,
        raw: &Table<RawClass>,
        floor: &TierRules,
        lifecycle: &Lifecycle,
    ) -> BTreeMap<Id, AgentClass> {
        let mut out = BTreeMap::new();
        for (key, c) in raw {
            let Some(id) = self.id(key) else { continue };
            let c = c.get_ref();
            let mut autonomy = *floor;
            if let Some(rules) = &c.autonomy {
                for tier in Tier::ALL {
                    let Some(rule) = rules.get(tier) else { continue };
                    let r = rule.get_ref();
                    let floor_rule = floor.get(tier);
                    if let Some(a) = &r.approvals
                        && *a.get_ref() < floor_rule.approvals
                    {
                        self.error(
                            a,
                            "looser-than-floor",
                            format!(
                                "class `{id}` lets `{tier}` calls run with {} approval(s), but the deployment's floor requires {}",
                                a.get_ref(),
                                floor_rule.approvals
                            ),
                        );
                    }
                    if let Some(m) = &r.mfa
                        && !*m.get_ref()
                        && floor_rule.mfa
                    {
                        self.error(
                            m,
                            "looser-than-floor",
                            format!("class `{id}` turns off MFA for `{tier}` calls, but the deployment's floor requires it"),
                        );
                    }
                    apply_tier_override(
                        &mut autonomy,
                        tier,
                        r.approvals
                            .as_ref()
                            .map(|a| (*a.get_ref()).max(floor_rule.approvals)),
                        r.mfa.as_ref().map(|m| *m.get_ref() || floor_rule.mfa),
                    );
                }
            }
            let calls_per_minute = c
                .quota
                .as_ref()
                .and_then(|q| q.calls_per_minute.as_ref())
                .map(|q| *q.get_ref());
            if let Some(q) = c.quota.as_ref().and_then(|q| q.calls_per_minute.as_ref())
                && *q.get_ref() == 0
            {
                self.warn(
                    q,
                    "unusable-quota",
                    format!("class `{id}` allows 0 calls per minute, so its agents can never call a tool"),
                );
            }
            let lifecycle = match &c.lifecycle {
                Some(l) => self.lifecycle(l.get_ref(), lifecycle, &format!("[classes.{id}.lifecycle]")),
                None => *lifecycle,
            };
            let location = self.at(key);
            out.insert(
                id.clone(),
                AgentClass {
                    id,
                    ceiling: *c.ceiling.get_ref(),
                    autonomy,
                    calls_per_minute,
                    lifecycle,
                    description: c.description.clone(),
                    location,
                },
            );
        }
        out
    }

    fn agents(&mut self, raw: &RawBundle) -> BTreeMap<Id, Agent> {
        let mut out = BTreeMap::new();
        for (key, a) in &raw.agents {
            let Some(id) = self.id(key) else { continue };
            let a = a.get_ref();
            let from = format!("agent `{id}`");
            let class = self.reference(&a.class, &raw.classes, &from, "class");
            let owner = self.reference(&a.owner, &raw.humans, &from, "owner");
            let scopes = a.scopes.as_ref().map(|list| {
                list.iter()
                    .filter_map(|scope| self.reference(scope, &raw.tools, &from, "tool"))
                    .collect::<Vec<_>>()
            });
            if let Some(list) = &a.scopes
                && list.is_empty()
            {
                self.warn(
                    key,
                    "empty-scopes",
                    format!("agent `{id}` has `scopes = []`, so it may call no tool; leave `scopes` out to scope it to its class"),
                );
            }
            if raw.services.keys().any(|k| k.get_ref() == id.as_str()) {
                self.error(
                    key,
                    "duplicate-id",
                    format!("`{id}` is declared both as an agent and as a service"),
                );
            }
            if let (Some(class), Some(owner)) = (class, owner) {
                let location = self.at(key);
                out.insert(
                    id.clone(),
                    Agent {
                        id,
                        class,
                        owner,
                        scopes,
                        description: a.description.clone(),
                        location,
                    },
                );
            }
        }
        out
    }

    fn services(&mut self, raw: &RawBundle) -> BTreeMap<Id, Service> {
        let mut out = BTreeMap::new();
        for (key, s) in &raw.services {
            let Some(id) = self.id(key) else { continue };
            let s = s.get_ref();
            let from = format!("service `{id}`");
            let owner = self.reference(&s.owner, &raw.humans, &from, "owner");
            let mut scopes = Vec::new();
            for scope in &s.scopes {
                if let Some(t) = self.reference(scope, &raw.tools, &from, "tool") {
                    scopes.push(t);
                }
            }
            if let Some(owner) = owner {
                let location = self.at(key);
                out.insert(
                    id.clone(),
                    Service {
                        id,
                        owner,
                        scopes,
                        description: s.description.clone(),
                        location,
                    },
                );
            }
        }
        out
    }

    /// `transport` is for MCP servers, and Streamable HTTP needs an `http://` `url` to reach.
    fn provider_transport(&mut self, key: &Spanned<String>, p: &RawProvider) {
        let Some(transport) = &p.transport else {
            return;
        };
        let kind = *p.kind.get_ref();
        if kind != ProviderKind::McpServer {
            self.error(
                transport,
                "bad-value",
                format!(
                    "provider `{}` is `{}`; `transport` is only for `kind = \"mcp_server\"`",
                    key.get_ref(),
                    kind.as_str()
                ),
            );
            return;
        }
        if *transport.get_ref() != McpTransport::StreamableHttp {
            return;
        }
        let Some(url) = &p.url else {
            self.error(
                key,
                "missing-key",
                format!(
                    "provider `{}` is reached over Streamable HTTP but has no `url`",
                    key.get_ref()
                ),
            );
            return;
        };
        let u = url.get_ref();
        let host = u
            .strip_prefix("http://")
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        let ok = host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
            && u.len() <= 2048
            && u.chars().all(|c| c.is_ascii_graphic());
        if !ok {
            let message = if u.starts_with("https://") {
                format!(
                    "MCP server url `{u}`: https is not supported yet; point it at a local TLS proxy over `http://`"
                )
            } else {
                format!("MCP server url `{u}` must be `http://HOST[:PORT]/PATH`")
            };
            self.error(url, "bad-value", message);
        }
    }

    /// A date written `YYYY-MM-DD`.
    fn date(&mut self, s: &Spanned<String>, what: &str) -> Option<time::Date> {
        let text = s.get_ref();
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match time::Date::parse(text, format) {
            Ok(day) if text.len() == 10 => Some(day),
            _ => {
                self.error(
                    s,
                    "bad-value",
                    format!("{what} must be a date written `YYYY-MM-DD`, not `{text}`"),
                );
                None
            }
        }
    }

    /// `[providers.ID.vetting]`: the reviewer is a declared human, `expires` comes after
    /// `reviewed`, and the notes are plain text.
    fn provider_vetting(
        &mut self,
        provider: &Id,
        raw: &Spanned<RawProviderVetting>,
        humans: &Table<RawHuman>,
    ) -> Option<DeclaredVetting> {
        let v = raw.get_ref();
        let from = format!("the vetting of provider `{provider}`");
        let reviewer = match v.reviewer.get_ref().strip_prefix("human:") {
            Some(human) => {
                let human = Spanned::new(v.reviewer.span(), human.to_owned());
                self.reference(&human, humans, &from, "reviewer")
            }
            None => {
                self.error(
                    &v.reviewer,
                    "bad-value",
                    format!(
                        "{from}: `reviewer` must name a declared human as `human:ID`, not `{}`",
                        v.reviewer.get_ref()
                    ),
                );
                None
            }
        };
        let reviewed = self.date(&v.reviewed, &format!("{from}: `reviewed`"));
        let expires = self.date(&v.expires, &format!("{from}: `expires`"));
        if let (Some(r), Some(e)) = (reviewed, expires)
            && e <= r
        {
            self.error(
                &v.expires,
                "bad-value",
                format!("{from} expires on {e}, which is not after it was reviewed on {r}"),
            );
        }
        if let Some(notes) = &v.notes {
            let text = notes.get_ref();
            if text.chars().count() > 4000 || text.chars().any(|c| c.is_control() && c != '\n') {
                self.error(
                    notes,
                    "bad-value",
                    format!("{from}: `notes` must be at most 4000 characters without control characters"),
                );
            }
        }
        Some(DeclaredVetting {
            status: *v.status.get_ref(),
            reviewer: reviewer?,
            reviewed: reviewed?,
            expires: expires?,
            notes: v.notes.as_ref().map(|n| n.get_ref().clone()),
            location: self.at(raw),
        })
    }

    fn providers(&mut self, raw: &Table<RawProvider>, humans: &Table<RawHuman>) -> BTreeMap<Id, Provider> {
        let mut out = BTreeMap::new();
        for (key, p) in raw {
            let Some(id) = self.id(key) else { continue };
            let p = p.get_ref();
            let location = self.at(key);
            self.provider_transport(key, p);
            let vetting = p
                .vetting
                .as_ref()
                .and_then(|v| self.provider_vetting(&id, v, humans));
            out.insert(
                id.clone(),
                Provider {
                    id,
                    kind: *p.kind.get_ref(),
                    destination: p.destination.unwrap_or(Destination::External),
                    transport: p.transport.as_ref().map(|t| *t.get_ref()),
                    url: p.url.as_ref().map(|u| u.get_ref().clone()),
                    description: p.description.clone(),
                    untrusted: p.untrusted,
                    vetting,
                    location,
                },
            );
        }
        out
    }

    fn tools(
        &mut self,
        raw: &RawBundle,
        scale: &[Id],
        default_class: Option<&Classification>,
        default_pool: Option<&Id>,
    ) -> BTreeMap<Id, Tool> {
        let mut out = BTreeMap::new();
        for (key, t) in &raw.tools {
            let Some(id) = self.id(key) else { continue };
            let t = t.get_ref();
            let from = format!("tool `{id}`");
            let provider = self.reference(&t.provider, &raw.providers, &from, "provider");
            let classification = match &t.classification {
                Some(c) => classification(self, c, scale, &from),
                None => match default_class {
                    Some(c) => Some(c.clone()),
                    None => {
                        self.error(
                            key,
                            "missing-key",
                            format!("{from} has no `classification` and `[data] default` is not set"),
                        );
                        None
                    }
                },
            };
            let reviewer_pool = match &t.reviewer_pool {
                Some(p) => self.reference(p, &raw.reviewer_pools, &from, "reviewer pool"),
                None => default_pool.cloned(),
            };
            let (input_schema, input) = match &t.input_schema {
                None => {
                    let schema = serde_json::json!({"type": "object", "properties": {}});
                    (schema, Some(crate::input::ArgRecord::default()))
                }
                Some(schema) => match record_from_schema(schema.get_ref()) {
                    Ok((record, unmapped)) => {
                        for u in unmapped {
                            self.warn(
                                schema,
                                "argument-not-visible",
                                format!(
                                    "argument `{}` of {from} is not visible to policies: {}",
                                    u.path, u.why
                                ),
                            );
                        }
                        (schema.get_ref().clone(), Some(record))
                    }
                    Err(message) => {
                        self.error(schema, "bad-input-schema", format!("{from}: {message}"));
                        (schema.get_ref().clone(), None)
                    }
                },
            };
            if let (Some(provider), Some(classification), Some(input)) = (provider, classification, input) {
                let location = self.at(key);
                out.insert(
                    id.clone(),
                    Tool {
                        id,
                        provider,
                        tier: *t.tier.get_ref(),
                        classification,
                        reviewer_pool,
                        description: t.description.clone(),
                        input_schema,
                        input,
                        untrusted: t.untrusted.unwrap_or_else(|| {
                            raw.providers
                                .iter()
                                .find(|(k, _)| k.get_ref() == t.provider.get_ref())
                                .is_some_and(|(_, p)| p.get_ref().untrusted)
                        }),
                        location,
                    },
                );
            }
        }
        out
    }

    /// Findings: the bundle is valid, but something in it cannot work as intended.
    fn lint(&mut self, bundle: &Bundle, raw: &RawBundle) {
        for key in raw.tools.keys() {
            let Some(tool) = bundle.tools.get(key.get_ref().as_str()) else {
                continue;
            };
            let needed = bundle
                .classes
                .values()
                .filter(|c| c.ceiling >= tool.tier)
                .map(|c| c.autonomy.get(tool.tier).approvals)
                .chain(std::iter::once(bundle.floor.get(tool.tier).approvals))
                .max()
                .unwrap_or(0);
            if needed == 0 {
                continue;
            }
            let members = tool
                .reviewer_pool
                .as_ref()
                .and_then(|p| bundle.reviewer_pools.get(p))
                .map_or(0, |p| p.members.len());
            if tool.reviewer_pool.is_none() {
                self.warn(
                    key,
                    "no-reviewer-pool",
                    format!("tool `{}` can need {needed} approval(s) but names no reviewer pool, so its held calls can never be approved", tool.id),
                );
            } else if (members as u64) < u64::from(needed) {
                self.warn(
                    key,
                    "reviewer-pool-too-small",
                    format!(
                        "tool `{}` can need {needed} distinct approvals but its reviewer pool has {members} member(s)",
                        tool.id
                    ),
                );
            }
        }
        if !bundle.agents.is_empty() && !bundle.humans.values().any(|h| h.stop_authority) {
            self.warn(
                &raw.deployment,
                "no-stop-authority",
                "no human holds stop authority, so no one may halt an agent".to_owned(),
            );
        }
        let used: BTreeSet<&Id> = bundle.agents.values().map(|a| &a.class).collect();
        for key in raw.classes.keys() {
            if !used.iter().any(|c| c.as_str() == key.get_ref()) {
                self.warn(key, "unused", format!("class `{}` has no agents", key.get_ref()));
            }
        }
        if let Some(table) = &raw.taint
            && !bundle.tracks_taint()
        {
            self.warn(
                table,
                "unused",
                "`[taint]` is set but no tool or provider is `untrusted`, so nothing is remembered"
                    .to_owned(),
            );
        }
    }
}

fn classification(cx: &mut Cx<'_>, s: &Spanned<String>, scale: &[Id], from: &str) -> Option<Classification> {
    let id = cx.id(s)?;
    match scale.iter().position(|c| *c == id) {
        Some(rank) => Some(Classification {
            name: id,
            rank: rank as i64,
        }),
        None => {
            let levels: Vec<&str> = scale.iter().map(Id::as_str).collect();
            cx.error(
                s,
                "dangling-reference",
                format!(
                    "{from} names classification `{id}`, which is not on the scale ({})",
                    levels.join(" < ")
                ),
            );
            None
        }
    }
}

/// SHA-256 over the bundle's files, each framed by its path and length so no two bundles collide.
fn bundle_hash(sources: &BundleSources) -> String {
    let mut h = Sha256::new();
    for f in std::iter::once(&sources.manifest).chain(&sources.policy_files) {
        h.update((f.path.len() as u64).to_be_bytes());
        h.update(f.path.as_bytes());
        h.update((f.text.len() as u64).to_be_bytes());
        h.update(f.text.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn parse_hitl(table: &str) -> Result<Hitl, Vec<String>> {
        let text = format!("[deployment]\nname = \"t\"\n\n{table}");
        let sources = BundleSources {
            manifest: SourceFile::new(MANIFEST.to_owned(), text),
            policy_files: Vec::new(),
        };
        parse(sources)
            .map(|b| b.hitl)
            .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    /// `table` fails with exactly `expected` (diagnostics as printed).
    fn check_invalid(table: &str, expected: &[&str]) {
        match parse_hitl(table) {
            Ok(h) => panic!("accepted: {h:?}"),
            Err(got) => assert_eq!(got, expected),
        }
    }

    #[test]
    fn hitl_defaults_and_values() {
        assert_eq!(parse_hitl("").unwrap(), Hitl::DEFAULT);
        let h = parse_hitl(
            "[hitl]\nexpiry_secs = 60\napproval_valid_for_secs = 30\nreviewer_capacity = 3\nagent_pending_cap = 2\n\
             pool_rate_per_minute = 7\nmax_wait_secs = 0\nwebhook_url = \"http://127.0.0.1:9000/hook\"\n\
             webhook_secret_env = \"CHAT_BRIDGE_KEY\"\n",
        )
        .unwrap();
        assert_eq!(
            (
                h.expiry_secs.get(),
                h.approval_valid_for_secs.get(),
                h.reviewer_capacity.get(),
                h.agent_pending_cap.get(),
                h.pool_rate_per_minute.get(),
                h.max_wait_secs
            ),
            (60, 30, 3, 2, 7, 0)
        );
        let w = h.webhook.unwrap();
        assert_eq!(
            (w.url.as_str(), w.secret_env.as_str()),
            ("http://127.0.0.1:9000/hook", "CHAT_BRIDGE_KEY")
        );
        assert_eq!(w.location.to_string(), "tribune.toml:11:15");
    }

    #[test]
    fn hitl_limits_are_checked_where_they_are_written() {
        check_invalid(
            "[hitl]\nexpiry_secs = 0\nagent_pending_cap = 10001\nmax_wait_secs = 301\n",
            &[
                "tribune.toml:5:15: error[bad-value]: `[hitl] expiry_secs` must be between 1 and 604800, not 0",
                "tribune.toml:6:21: error[bad-value]: `[hitl] agent_pending_cap` must be between 1 and 10000, not 10001",
                "tribune.toml:7:17: error[bad-value]: `[hitl] max_wait_secs` must be at most 300, not 301",
            ],
        );
        check_invalid(
            "[hitl]\nexpiry = 5\n",
            &[
                "tribune.toml:5:1: error[unknown-key]: unknown field `expiry`, expected one of `expiry_secs`, `approval_valid_for_secs`, `reviewer_capacity`, `agent_pending_cap`, `pool_rate_per_minute`, `max_wait_secs`, `webhook_url`, `webhook_secret_env`",
            ],
        );
        check_invalid(
            "[hitl]\nreviewer_capacity = -1\n",
            &["tribune.toml:5:21: error[wrong-type]: invalid value: integer `-1`, expected u32"],
        );
    }

    #[test]
    fn hitl_webhooks_need_an_http_url_and_a_key_variable() {
        check_invalid(
            "[hitl]\nwebhook_url = \"https://chat.example.com/hook\"\nwebhook_secret_env = \"KEY\"\n",
            &[
                "tribune.toml:5:15: error[bad-value]: webhook url `https://chat.example.com/hook`: https is not supported yet; point it at a local relay or TLS proxy over `http://`",
            ],
        );
        check_invalid(
            "[hitl]\nwebhook_url = \"http:///hook\"\nwebhook_secret_env = \"1KEY\"\n",
            &[
                "tribune.toml:5:15: error[bad-value]: webhook url `http:///hook` must be `http://HOST[:PORT]/PATH`",
                "tribune.toml:6:22: error[bad-value]: `1KEY` is not an environment variable name (letters, digits and `_`, not starting with a digit)",
            ],
        );
        check_invalid(
            "[hitl]\nwebhook_url = \"http://relay/hook\"\n",
            &[
                "tribune.toml:4:1: error[missing-key]: `[hitl] webhook_url` needs `webhook_secret_env`, the environment variable that holds the signing key",
            ],
        );
        check_invalid(
            "[hitl]\nwebhook_secret_env = \"KEY\"\n",
            &[
                "tribune.toml:5:22: error[missing-key]: `[hitl] webhook_secret_env` is set but `webhook_url` is not",
            ],
        );
    }
}
