//! Tool argument types: the part of a tool's JSON Schema that Cedar policies can see.
//!
//! Following the cedar-for-agents MCP schema convention, a tool's arguments appear to policies
//! as the record `context.input`. JSON Schema is richer than Cedar's type system, so each
//! property is mapped to a Cedar type where one fits and otherwise left out of the record with
//! a warning: policies cannot name it, and the generated schema's strict validation rejects any
//! policy that tries.

use std::collections::BTreeMap;

use serde_json::Value;

/// The Cedar-visible type of one argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// JSON string -> Cedar `String`.
    String,
    /// JSON Schema `integer` -> Cedar `Long`.
    Long,
    /// JSON Schema `number` -> Cedar `decimal` (four fractional digits).
    Decimal,
    /// JSON boolean -> Cedar `Bool`.
    Bool,
    /// JSON array with typed `items` -> Cedar `Set`.
    Set(Box<ArgType>),
    /// JSON object with `properties` -> Cedar record.
    Record(ArgRecord),
}

/// A record of named, possibly optional, arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArgRecord {
    /// Attribute name -> type and whether it must be present.
    pub fields: BTreeMap<String, ArgField>,
}

/// One attribute of an [`ArgRecord`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgField {
    /// Its Cedar type.
    pub ty: ArgType,
    /// Required by the schema's `required` list.
    pub required: bool,
}

/// A JSON Schema construct that has no Cedar type, reported as a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    /// JSON pointer-like path of the property, e.g. `recipient.address`.
    pub path: String,
    /// Why it was left out.
    pub why: String,
}

/// Maps a tool's top-level input schema, which must describe an object.
pub fn record_from_schema(schema: &Value) -> Result<(ArgRecord, Vec<Unmapped>), String> {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {}
        Some(other) => {
            return Err(format!(
                "an input schema must have `type = \"object\"`, not `{other}`"
            ));
        }
        None => return Err("an input schema must have `type = \"object\"`".to_owned()),
    }
    let mut unmapped = Vec::new();
    let record = object_record(schema, "", &mut unmapped);
    // serde_json's map order depends on its `preserve_order` feature; report in a fixed order.
    unmapped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((record, unmapped))
}

fn object_record(schema: &Value, prefix: &str, unmapped: &mut Vec<Unmapped>) -> ArgRecord {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields = BTreeMap::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match arg_type(prop, &path, unmapped) {
                Ok(ty) => {
                    fields.insert(
                        name.clone(),
                        ArgField {
                            ty,
                            required: required.contains(&name.as_str()),
                        },
                    );
                }
                Err(why) => unmapped.push(Unmapped { path, why }),
            }
        }
    }
    ArgRecord { fields }
}

fn arg_type(schema: &Value, path: &str, unmapped: &mut Vec<Unmapped>) -> Result<ArgType, String> {
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(_)) => return Err("a union of types has no Cedar equivalent".to_owned()),
        Some(_) => return Err("`type` must be a string".to_owned()),
        None if schema
            .get("enum")
            .is_some_and(|e| e.as_array().is_some_and(|a| a.iter().all(Value::is_string))) =>
        {
            "string"
        }
        None => return Err("a property without a single `type` has no Cedar equivalent".to_owned()),
    };
    match ty {
        "string" => Ok(ArgType::String),
        "integer" => Ok(ArgType::Long),
        "number" => Ok(ArgType::Decimal),
        "boolean" => Ok(ArgType::Bool),
        "array" => match schema.get("items") {
            Some(items) if items.is_object() => Ok(ArgType::Set(Box::new(arg_type(
                items,
                &format!("{path}[]"),
                unmapped,
            )?))),
            _ => Err("an array needs a single `items` schema to become a Cedar set".to_owned()),
        },
        "object" => {
            if schema.get("properties").is_none() {
                return Err(
                    "an object without `properties` (a free-form map) has no Cedar record type".to_owned(),
                );
            }
            Ok(ArgType::Record(object_record(schema, path, unmapped)))
        }
        "null" => Err("`null` has no Cedar equivalent".to_owned()),
        other => Err(format!("unknown JSON Schema type `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_common_mcp_schemas() {
        let schema = json!({
            "type": "object",
            "required": ["to", "amount"],
            "properties": {
                "to": {"type": "string"},
                "amount": {"type": "number"},
                "count": {"type": "integer"},
                "urgent": {"type": "boolean"},
                "cc": {"type": "array", "items": {"type": "string"}},
                "meta": {"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]},
                "free": {"type": "object"},
                "either": {"type": ["string", "null"]},
                "mode": {"enum": ["a", "b"]}
            }
        });
        let (record, unmapped) = record_from_schema(&schema).unwrap_or_default();
        assert_eq!(
            record.fields["to"],
            ArgField {
                ty: ArgType::String,
                required: true
            }
        );
        assert_eq!(record.fields["amount"].ty, ArgType::Decimal);
        assert!(!record.fields["count"].required);
        assert_eq!(record.fields["cc"].ty, ArgType::Set(Box::new(ArgType::String)));
        assert_eq!(record.fields["mode"].ty, ArgType::String);
        let ArgType::Record(meta) = &record.fields["meta"].ty else {
            unreachable!("meta is a record")
        };
        assert!(meta.fields["tag"].required);
        let paths: Vec<_> = unmapped.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["either", "free"]);
    }

    #[test]
    fn top_level_must_be_an_object() {
        assert!(record_from_schema(&json!({"type": "string"})).is_err());
        assert!(record_from_schema(&json!({})).is_err());
    }
}
