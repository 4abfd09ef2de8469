//! The OpenAPI 3.1 document of the management API, generated from the code: the
//! routes from their handlers' annotations (utoipa), and a `webhooks` section
//! from the event table, one entry per event with the JSON Schema of its payload
//! and the Standard Webhooks headers.

use serde_json::{Map, Value, json};
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{deliveries, hooks};
use crate::registry::Registry;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "rest-hooks management API",
        description = "Subscriptions to an application's events, their delivery log, and the event catalog. Errors are RFC 9457 problems. Another owner's hook is a 404, as an unknown one is."
    ),
    paths(
        hooks::subscribe,
        hooks::list_hooks,
        hooks::get_hook,
        hooks::update_hook,
        hooks::unsubscribe,
        hooks::rotate_secret,
        hooks::send_test,
        hooks::list_events,
        deliveries::list_hook_deliveries,
        deliveries::list_deliveries,
        deliveries::recover,
        deliveries::redeliver,
    ),
    modifiers(&BearerAuth),
    // Every route takes the bearer scheme: said once, for the whole document.
    security(("bearer" = []))
)]
struct ApiDoc;

/// Declares the bearer scheme that the routes name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of [`router`](super::router) for the events of
/// `registry`, as JSON: every route with its parameters, bodies, statuses and
/// problems and the bearer security, and under `webhooks` what the application
/// sends, one entry per event. Serve it, or publish it elsewhere.
pub fn openapi(registry: &'static Registry) -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // A subscription names an event of this table.
    let names: Vec<&str> = registry.events().iter().map(|e| e.name).collect();
    if let Some(event) = document.pointer_mut("/components/schemas/Subscription/properties/event") {
        event["enum"] = json!(names);
    }
    let mut webhooks = Map::new();
    let mut shared = Map::new();
    for event in registry.events() {
        let Some(mut schema) = registry.payload_schema(event.name) else {
            continue;
        };
        // A schema's own `$defs` move to the document's components, where its
        // references then point: in OpenAPI, `#/…` is the document's root.
        if let Some(Value::Object(definitions)) =
            schema.as_object_mut().and_then(|s| s.remove("$defs"))
        {
            // Their names take a prefix, apart from the API's own (`Hook`, …).
            shared.extend(
                definitions
                    .into_iter()
                    .map(|(name, definition)| (format!("{PAYLOAD_PREFIX}{name}"), definition)),
            );
        }
        if let Some(object) = schema.as_object_mut() {
            object.remove("$schema");
        }
        let schema = point_refs_at_components(schema);
        webhooks.insert(
            event.name.to_owned(),
            webhook(event.name, registry.description(event.name), schema),
        );
    }
    if let Some(root) = document.as_object_mut() {
        root.insert("webhooks".to_owned(), Value::Object(webhooks));
        let components = root.entry("components").or_insert_with(|| json!({}));
        if let Some(schemas) = components
            .as_object_mut()
            .map(|c| c.entry("schemas").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            for (name, definition) in shared {
                schemas
                    .entry(name)
                    .or_insert(point_refs_at_components(definition));
            }
        }
    }
    document
}

/// The `webhooks` entry of one event: a POST of its payload, with the Standard
/// Webhooks headers.
fn webhook(name: &str, description: Option<&str>, schema: Value) -> Value {
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    json!({
        "post": {
            "summary": format!("The event `{name}`"),
            "description": description.unwrap_or(""),
            "operationId": format!("webhook-{name}"),
            "parameters": [
                header("webhook-id", "The delivery's id, the same on every retry: deduplicate on it."),
                header("webhook-timestamp", "Unix seconds of this attempt."),
                header("webhook-signature", "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` with the hook's secret; during a rotation, a second one with the old secret."),
            ],
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "2XX": {"description": "Taken: delivered."},
                "410": {"description": "Gone: the hook is deleted, and nothing more is sent."},
                "default": {"description": "Anything else is attempted again, on the retry schedule."},
            },
        }
    })
}

/// The prefix of the payloads' definitions among the document's schemas.
const PAYLOAD_PREFIX: &str = "Payload.";

/// `#/$defs/X` becomes `#/components/schemas/Payload.X`, everywhere in `value`.
fn point_refs_at_components(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => {
                        let reference = reference.replacen(
                            "#/$defs/",
                            &format!("#/components/schemas/{PAYLOAD_PREFIX}"),
                            1,
                        );
                        (key, Value::String(reference))
                    }
                    (_, value) => (key, point_refs_at_components(value)),
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(point_refs_at_components).collect())
        }
        other => other,
    }
}
