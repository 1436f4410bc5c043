//! Columns of an Avro record schema: every field, nested records flattened
//! as `parent.child`, with the `doc` and `privacy` attributes each must have.

use serde_json::{Map, Value};

use super::{CatalogError, Column, Privacy};

/// The columns of the record schema `text` named `record`.
pub fn columns(record: &str, text: &str) -> Result<Vec<Column>, CatalogError> {
    let schema: Value = serde_json::from_str(text).map_err(|e| CatalogError::Schema {
        record: record.into(),
        reason: e.to_string(),
    })?;
    let mut walker = Walker {
        record,
        named: Map::new(),
        out: Vec::new(),
    };
    walker.fields(&schema, "")?;
    Ok(walker.out)
}

struct Walker<'a> {
    record: &'a str,
    /// Records defined so far, for fields that refer to one by name.
    named: Map<String, Value>,
    out: Vec<Column>,
}

impl Walker<'_> {
    fn fields(&mut self, record: &Value, prefix: &str) -> Result<(), CatalogError> {
        let fields = record["fields"].as_array().cloned().unwrap_or_default();
        for f in &fields {
            let name = format!("{prefix}{}", f["name"].as_str().unwrap_or("?"));
            let missing = |what: &'static str| CatalogError::Missing {
                dataset: self.record.into(),
                column: name.clone(),
                what,
            };
            let description = f["doc"].as_str().filter(|d| !d.trim().is_empty());
            let description = description.ok_or_else(|| missing("a description (doc)"))?;
            let privacy = match f["privacy"].as_str() {
                Some("personal") => Privacy::Personal,
                Some("pseudonymous") => Privacy::Pseudonymous,
                Some("none") => Privacy::None,
                _ => return Err(missing("a privacy class (personal, pseudonymous or none)")),
            };
            self.out.push(Column {
                name: name.clone(),
                data_type: self.type_name(&f["type"]),
                description: description.to_string(),
                privacy,
            });
            if let Some(nested) = self.nested_record(&f["type"]) {
                self.fields(&nested, &format!("{name}."))?;
            }
        }
        Ok(())
    }

    /// The record a field's type holds (directly, in a union, a list or a
    /// map, or by name), registering named records on the way.
    fn nested_record(&mut self, t: &Value) -> Option<Value> {
        match t {
            Value::Object(o) if o.get("type") == Some(&Value::from("record")) => {
                let name = o.get("name")?.as_str()?.to_string();
                self.named.insert(name, t.clone());
                Some(t.clone())
            }
            Value::Object(o) => {
                let inner = o.get("items").or_else(|| o.get("values"))?;
                self.nested_record(inner)
            }
            Value::Array(branches) => branches.iter().find_map(|b| self.nested_record(b)),
            Value::String(name) => self.named.get(name).cloned(),
            _ => None,
        }
    }

    fn type_name(&self, t: &Value) -> String {
        match t {
            Value::String(s) => s.clone(),
            Value::Array(branches) => {
                let other: Vec<String> = branches
                    .iter()
                    .filter(|b| b.as_str() != Some("null"))
                    .map(|b| self.type_name(b))
                    .collect();
                let nullable = other.len() < branches.len();
                format!(
                    "{}{}",
                    other.join(" | "),
                    if nullable { " (nullable)" } else { "" }
                )
            }
            Value::Object(o) => match (o.get("type").and_then(Value::as_str), o.get("logicalType"))
            {
                (_, Some(Value::String(l))) if l.starts_with("timestamp") => "timestamp".into(),
                (Some("array"), _) => format!("list<{}>", self.type_name(&o["items"])),
                (Some("map"), _) => format!("map<string, {}>", self.type_name(&o["values"])),
                (Some("enum"), _) => "enum".into(),
                (Some("record"), _) => "record".into(),
                (Some(other), _) => other.into(),
                (None, _) => "?".into(),
            },
            _ => "?".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_every_record_is_described_and_classified() {
        for (record, text) in lap_schemas::AVRO_SCHEMAS {
            let cols = columns(record, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(cols.len() >= 8, "{record}: {cols:?}");
        }
        let learning = columns("LearningEvent", lap_schemas::AVRO_SCHEMAS[0].1).unwrap();
        let find = |n: &str| {
            learning
                .iter()
                .find(|c| c.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(find("actor.id").privacy, Privacy::Personal);
        // The instructor refers to the Actor record by name.
        assert_eq!(find("context.instructor.id").privacy, Privacy::Personal);
        assert_eq!(find("due_time").data_type, "timestamp (nullable)");
    }

    #[test]
    fn a_field_without_doc_or_privacy_is_an_error_naming_it() {
        let no_doc = r#"{"type": "record", "name": "R", "fields": [
            {"name": "a", "privacy": "none", "type": "string", "doc": "fine"},
            {"name": "inner", "privacy": "none", "doc": "x", "type": {"type": "record", "name": "I", "fields": [
                {"name": "b", "privacy": "none", "type": "long"}]}}]}"#;
        let err = columns("R", no_doc).unwrap_err().to_string();
        assert!(
            err.contains("inner.b") && err.contains("description"),
            "{err}"
        );
        let no_class = r#"{"type": "record", "name": "R", "fields": [
            {"name": "a", "type": "string", "doc": "fine", "privacy": "secret"}]}"#;
        let err = columns("R", no_class).unwrap_err().to_string();
        assert!(
            err.contains("`a`") && err.contains("privacy class"),
            "{err}"
        );
    }
}
