//! The contract of an event's payload: its JSON Schema as delivered (the hook and
//! the data), and an example value made from a schema when the model gives none.

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::model::HookInfo;

/// The JSON Schema (draft 2020-12) of the default payload of event `name`,
/// `{"hook", "data"}`, with `data` as `data_schema` gives it.
pub(crate) fn payload_schema(name: &str, data_schema: fn(&mut SchemaGenerator) -> Schema) -> Value {
    let mut generator = SchemaGenerator::default();
    let hook = generator.subschema_for::<HookInfo<'static>>().to_value();
    let data = data_schema(&mut generator).to_value();
    let definitions = generator.take_definitions(true);
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "required": ["hook", "data"],
        "properties": {"hook": hook, "data": data},
    });
    if !definitions.is_empty()
        && let Some(object) = schema.as_object_mut()
    {
        object.insert("$defs".to_owned(), Value::Object(definitions));
    }
    schema
}

/// A value that `schema` accepts, as an example: the schema's own example or
/// default when it has one, else the first choice, and the simplest value of its
/// type. `$ref`s point into `definitions`; past a depth of 8, `null`.
pub(crate) fn example_of(schema: &Value, definitions: &Map<String, Value>) -> Value {
    instance(schema, definitions, 0)
}

fn instance(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> Value {
    let Some(schema) = schema.as_object().filter(|_| depth < 8) else {
        return Value::Null;
    };
    let deeper = |s: &Value| instance(s, definitions, depth + 1);
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return definitions.get(name).map_or(Value::Null, deeper);
    }
    for key in ["const", "default"] {
        if let Some(value) = schema.get(key) {
            return value.clone();
        }
    }
    for key in ["examples", "enum", "oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return if key == "examples" || key == "enum" {
                first.clone()
            } else {
                deeper(first)
            };
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.contains_key("properties") => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let properties = schema.get("properties").and_then(Value::as_object);
            Value::Object(
                properties
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| (name.clone(), deeper(property)))
                    .collect(),
            )
        }
        "array" => match schema.get("items") {
            Some(items) => Value::Array(vec![deeper(items)]),
            None => json!([]),
        },
        "string" => json!(match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => "2026-01-01T00:00:00Z",
            Some("date") => "2026-01-01",
            Some("uuid") => "00000000-0000-0000-0000-000000000000",
            Some("uri") => "https://example.com/",
            Some("email") => "someone@example.com",
            _ => "string",
        }),
        "integer" => schema.get("minimum").cloned().unwrap_or(json!(0)),
        "number" => schema.get("minimum").cloned().unwrap_or(json!(0.0)),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code, reason = "only its schema is read")]
    struct Book {
        id: u64,
        title: String,
        tags: Vec<String>,
        shelf: Option<Shelf>,
        price: f64,
        out: bool,
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code, reason = "only its schema is read")]
    struct Shelf {
        room: String,
    }

    fn book_schema(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<Book>()
    }

    #[test]
    fn an_example_made_from_a_schema_has_every_field_of_its_type() {
        let schema = payload_schema("book.added", book_schema);
        let definitions = schema["$defs"].as_object().unwrap();
        let example = example_of(&schema, definitions);
        assert_eq!(
            example["data"],
            json!({"id": 0, "title": "string", "tags": ["string"], "shelf": {"room": "string"}, "price": 0.0, "out": false})
        );
        assert_eq!(example["hook"]["event"], "string");
        assert_eq!(schema["required"], json!(["hook", "data"]));
    }

    #[test]
    fn a_schema_that_says_nothing_gives_null_and_deep_ones_stop() {
        assert_eq!(example_of(&json!(true), &Map::new()), Value::Null);
        let mut definitions = Map::new();
        definitions.insert(
            "Loop".into(),
            json!({"type": "object", "properties": {"next": {"$ref": "#/$defs/Loop"}}}),
        );
        let example = example_of(&json!({"$ref": "#/$defs/Loop"}), &definitions);
        let mut end = &example;
        let mut links = 0;
        while let Some(next) = end.get("next") {
            end = next;
            links += 1;
        }
        assert_eq!((end, links), (&Value::Null, 4));
    }
}
