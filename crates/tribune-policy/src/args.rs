//! Tool arguments and request context as Cedar values.
//!
//! The conversion is directed by the types generated from the bundle, so the context always
//! conforms to the generated schema: arguments the schema does not type are left out, and a
//! value that does not fit its type is an error (the caller denies).

use cedar_policy::RestrictedExpression;
use serde_json::Value;
use tribune_bundle::ContextType;
use tribune_bundle::input::{ArgRecord, ArgType};

/// Converts `value` (a JSON object of arguments) to a Cedar record of type `record`; but only the top-level arguments `keep` accepts become Cedar values; the
/// others are still checked, with the same errors in the same order, so what is refused does
/// not depend on which arguments the policies read. The decision point keeps only what its
/// candidate policies can read (`plan::Reads`): a policy observes a record only through `.`
/// and `has` on its attributes, so one it never names cannot change its result.
pub fn record_only(
    value: &Value,
    record: &ArgRecord,
    keep: &dyn Fn(&str) -> bool,
) -> Result<RestrictedExpression, String> {
    build_record(value, record, "", keep)
}

fn build_record(
    value: &Value,
    record: &ArgRecord,
    path: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<RestrictedExpression, String> {
    let Value::Object(map) = value else {
        return Err(format!("`{}` must be an object", display(path)));
    };
    let mut fields = Vec::with_capacity(record.fields.len());
    for (name, field) in &record.fields {
        match map.get(name) {
            Some(v) => {
                let nested;
                let child = if path.is_empty() {
                    name.as_str()
                } else {
                    nested = format!("{path}.{name}");
                    nested.as_str()
                };
                if keep(name) {
                    fields.push((name.clone(), typed(v, &field.ty, child)?));
                } else {
                    check(v, &field.ty, child)?;
                }
            }
            None if field.required => {
                return Err(format!("`{}` is missing required `{name}`", display(path)));
            }
            None => {}
        }
    }
    RestrictedExpression::new_record(fields).map_err(|e| e.to_string())
}

fn display(path: &str) -> &str {
    if path.is_empty() { "arguments" } else { path }
}

fn typed(value: &Value, ty: &ArgType, path: &str) -> Result<RestrictedExpression, String> {
    match (ty, value) {
        (ArgType::String, Value::String(s)) => Ok(RestrictedExpression::new_string(s.clone())),
        (ArgType::Bool, Value::Bool(b)) => Ok(RestrictedExpression::new_bool(*b)),
        (ArgType::Long, Value::Number(n)) => n
            .as_i64()
            .map(RestrictedExpression::new_long)
            .ok_or_else(|| format!("`{path}` must be a 64-bit integer")),
        (ArgType::Decimal, Value::Number(n)) => {
            Ok(RestrictedExpression::new_decimal(decimal_literal(n, path)?))
        }
        (ArgType::Set(item), Value::Array(items)) => {
            let values = items
                .iter()
                .map(|v| typed(v, item, path))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RestrictedExpression::new_set(values))
        }
        (ArgType::Record(r), v @ Value::Object(_)) => build_record(v, r, path, &|_| true),
        (ty, _) => Err(format!("`{path}` must be {}", expected(ty))),
    }
}

/// What [`typed`] would refuse, with the same message, without building anything.
fn check(value: &Value, ty: &ArgType, path: &str) -> Result<(), String> {
    match (ty, value) {
        (ArgType::String, Value::String(_)) | (ArgType::Bool, Value::Bool(_)) => Ok(()),
        (ArgType::Long, Value::Number(n)) => n
            .as_i64()
            .map(|_| ())
            .ok_or_else(|| format!("`{path}` must be a 64-bit integer")),
        (ArgType::Decimal, Value::Number(n)) => decimal_check(n, path),
        (ArgType::Set(item), Value::Array(items)) => items.iter().try_for_each(|v| check(v, item, path)),
        (ArgType::Record(r), Value::Object(map)) => {
            for (name, field) in &r.fields {
                match map.get(name) {
                    Some(v) => check(v, &field.ty, &format!("{path}.{name}"))?,
                    None if field.required => {
                        return Err(format!("`{}` is missing required `{name}`", display(path)));
                    }
                    None => {}
                }
            }
            Ok(())
        }
        (ty, _) => Err(format!("`{path}` must be {}", expected(ty))),
    }
}

fn expected(ty: &ArgType) -> &'static str {
    match ty {
        ArgType::String => "a string",
        ArgType::Long => "an integer",
        ArgType::Decimal => "a number",
        ArgType::Bool => "a boolean",
        ArgType::Set(_) => "an array",
        ArgType::Record(_) => "an object",
    }
}

/// Cedar decimals have four fractional digits and the range of an i64 scaled by 10^4.
/// Numbers that do not fit are refused rather than rounded: a policy must see the real value.
pub fn decimal_literal(n: &serde_json::Number, path: &str) -> Result<String, String> {
    if let Some(i) = n.as_i64() {
        return if i.unsigned_abs() <= MAX_WHOLE {
            Ok(format!("{i}.0"))
        } else {
            Err(format!("`{path}` is outside the range policies can compare"))
        };
    }
    let text = n.to_string();
    let (whole, frac) = decimal_parts(&text, path)?;
    Ok(format!("{whole}.{frac}"))
}

/// What [`decimal_literal`] refuses, with the same message, without allocating unless it
/// refuses.
fn decimal_check(n: &serde_json::Number, path: &str) -> Result<(), String> {
    if n.is_i64() {
        return decimal_literal(n, path).map(|_| ());
    }
    let mut text = StackText::default();
    if std::fmt::Write::write_fmt(&mut text, format_args!("{n}")).is_err() {
        return decimal_literal(n, path).map(|_| ());
    }
    match text.as_str() {
        Some(t) => decimal_parts(t, path).map(|_| ()),
        None => decimal_literal(n, path).map(|_| ()),
    }
}

/// The largest whole number `decimal_literal` accepts from an integer.
const MAX_WHOLE: u64 = 922_337_203_685_477;

/// The whole and fractional digits of a non-integer number's text, checked as
/// [`decimal_literal`] checks them.
fn decimal_parts<'t>(text: &'t str, path: &str) -> Result<(&'t str, &'t str), String> {
    if text.contains(['e', 'E']) {
        return Err(format!("`{path}` has no exact four-digit decimal form"));
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, "0"));
    if frac.len() > 4 {
        return Err(format!(
            "`{path}` has more than four fractional digits, which policies cannot compare exactly"
        ));
    }
    let whole_abs = whole.trim_start_matches('-');
    if whole_abs.len() > 15 || whole_abs.parse::<u64>().map_or(true, |w| w > 922_337_203_685_476) {
        return Err(format!("`{path}` is outside the range policies can compare"));
    }
    Ok((whole, frac))
}

/// The Cedar decimal (times 10^4) that `decimal_literal`'s text denotes, computed without
/// allocating; `None` where `decimal_literal` refuses the number (or in a case this does not
/// model, which the caller hands to Cedar).
pub fn decimal_scaled(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return if i.unsigned_abs() <= MAX_WHOLE {
            i.checked_mul(10_000)
        } else {
            None
        };
    }
    let mut text = StackText::default();
    std::fmt::Write::write_fmt(&mut text, format_args!("{n}")).ok()?;
    let (whole, frac) = decimal_parts(text.as_str()?, "").ok()?;
    crate::eval::decimal_value(whole, frac)
}

/// A number's text, on the stack (JSON numbers print in well under 64 bytes).
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes.get(..self.len)?).ok()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// What [`record_only`] refuses, with the same errors in the same order, building nothing.
pub fn check_record(value: &Value, record: &ArgRecord) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("`{}` must be an object", display("")));
    };
    for (name, field) in &record.fields {
        match map.get(name) {
            Some(v) => check(v, &field.ty, name)?,
            None if field.required => {
                return Err(format!("`{}` is missing required `{name}`", display("")));
            }
            None => {}
        }
    }
    Ok(())
}

/// What [`request_context`] refuses, with the same errors, building nothing.
pub fn check_request_context(
    value: Option<&serde_json::Map<String, Value>>,
    declared: &std::collections::BTreeMap<String, ContextType>,
) -> Result<(), String> {
    for (name, v) in value.into_iter().flatten() {
        let ty = declared
            .get(name)
            .ok_or_else(|| format!("context attribute `{name}` is not declared in the bundle"))?;
        match (ty, v) {
            (ContextType::String, Value::String(_)) | (ContextType::Bool, Value::Bool(_)) => {}
            (ContextType::Long, Value::Number(n)) if n.is_i64() => {}
            _ => return Err(format!("context attribute `{name}` must be a {ty:?}").to_lowercase()),
        }
    }
    Ok(())
}

/// Converts caller-supplied request context to the `RequestContext` record the bundle declares.
pub fn request_context(
    value: Option<&serde_json::Map<String, Value>>,
    declared: &std::collections::BTreeMap<String, ContextType>,
) -> Result<RestrictedExpression, String> {
    let mut fields = Vec::new();
    if let Some(map) = value {
        for (name, v) in map {
            let ty = declared
                .get(name)
                .ok_or_else(|| format!("context attribute `{name}` is not declared in the bundle"))?;
            let expr = match (ty, v) {
                (ContextType::String, Value::String(s)) => RestrictedExpression::new_string(s.clone()),
                (ContextType::Long, Value::Number(n)) if n.is_i64() => {
                    RestrictedExpression::new_long(n.as_i64().unwrap_or_default())
                }
                (ContextType::Bool, Value::Bool(b)) => RestrictedExpression::new_bool(*b),
                _ => return Err(format!("context attribute `{name}` must be a {ty:?}").to_lowercase()),
            };
            fields.push((name.clone(), expr));
        }
    }
    RestrictedExpression::new_record(fields).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: Value) -> Result<String, String> {
        match v {
            Value::Number(n) => decimal_literal(&n, "x"),
            _ => Err("not a number".to_owned()),
        }
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(dec(serde_json::json!(500)).as_deref(), Ok("500.0"));
        assert_eq!(dec(serde_json::json!(-12.5)).as_deref(), Ok("-12.5"));
        assert_eq!(dec(serde_json::json!(0.0001)).as_deref(), Ok("0.0001"));
        assert!(dec(serde_json::json!(0.00001)).is_err());
        assert!(dec(serde_json::json!(1e300)).is_err());
        assert!(dec(serde_json::json!(i64::MAX)).is_err());
    }

    #[test]
    fn scaled_decimals_are_the_literals_cedar_parses() {
        for v in [
            serde_json::json!(500),
            serde_json::json!(-12.5),
            serde_json::json!(0.0001),
            serde_json::json!(-0.5),
            serde_json::json!(100.0001),
            serde_json::json!(922_337_203_685_477_i64),
            serde_json::json!(-922_337_203_685_477_i64),
            serde_json::json!(922_337_203_685_476.5),
            serde_json::json!(0.00001),
            serde_json::json!(1e300),
            serde_json::json!(i64::MAX),
            serde_json::json!(u64::MAX),
        ] {
            let Value::Number(n) = &v else { continue };
            let via_text = decimal_literal(n, "x")
                .ok()
                .and_then(|t| crate::eval::parse_decimal(&t));
            assert_eq!(decimal_scaled(n), via_text, "{v}");
        }
    }
}
