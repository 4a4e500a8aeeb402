//! The answers as sent, beyond what the derive sees: a field that may be absent is never
//! `null` unless listed as required, ids have their one shape, each error status names only
//! its own codes, and every answer carries `x-request-id`.

use serde_json::{json, Map, Value};

use super::strict::{not_null, property, schema};

/// A request id, as in `x-request-id` and every body.
pub const REQUEST_ID: &str = "^req_[A-Za-z0-9]{24}$";
/// An image id.
pub const IMAGE_ID: &str = "^img_[A-Za-z0-9]{24}$";

/// The answer schemas of the document.
const ANSWERS: [&str; 12] = [
    "GenerateResponse",
    "ImageDto",
    "UsageDto",
    "ImagesResponse",
    "ImageData",
    "ImagesUsage",
    "TokenDetails",
    "HealthStatus",
    "GateStatus",
    "StorageStatus",
    "ModelList",
    "ModelObject",
];

/// Describes the answers of the generated document. `codes` gives, by `components/responses`
/// name, the error codes of that status.
pub(super) fn describe<'a>(
    doc: &mut Value,
    codes: impl IntoIterator<Item = (String, &'a [&'a str])>,
) {
    for name in ANSWERS {
        if let Some(schema) = schema(doc, name) {
            absent_not_null(schema);
        }
    }
    answers(doc);
    for (response, codes) in codes {
        let content = &mut doc["components"]["responses"][response.as_str()]["content"];
        if let Some(media) = content.get_mut("application/json") {
            media["schema"] = json!({"allOf": [
                {"$ref": "#/components/schemas/ErrorEnvelope"},
                {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
            ]});
        }
    }
    request_id_headers(doc);
}

/// An answer omits a field it has no value for; only required fields may be `null`.
fn absent_not_null(schema: &mut Map<String, Value>) {
    let required: Vec<Value> = schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if !required.contains(&json!(name)) {
                not_null(property);
            }
        }
    }
}

/// What the answer schemas know beyond their types.
fn answers(doc: &mut Value) {
    if let Some(data) = schema(doc, "ImageData") {
        // As `response_format` asked: the bytes or the link, never both.
        data.insert(
            "oneOf".into(),
            json!([{"required": ["b64_json"]}, {"required": ["url"]}]),
        );
    }
    if let Some(image) = schema(doc, "ImageDto") {
        let rules = [
            ("id", json!({"pattern": IMAGE_ID})),
            ("size", json!({"pattern": "^[0-9]+x[0-9]+$"})),
        ];
        for (name, rule) in rules {
            if let (Some(property), Value::Object(rule)) = (property(image, name), rule) {
                property.extend(rule);
            }
        }
        if let Some(filetype) = property(image, "filetype") {
            filetype.remove("type");
            filetype.insert("$ref".into(), json!("#/components/schemas/OutputFormat"));
        }
    }
    if let Some(id) = schema(doc, "GenerateResponse").and_then(|s| property(s, "id")) {
        id.insert("pattern".into(), json!(REQUEST_ID));
    }
    if let Some(status) = schema(doc, "HealthStatus").and_then(|s| property(s, "status")) {
        status.insert("enum".into(), json!(["ok"]));
    }
}

/// Every answer, error or not, carries `x-request-id`.
fn request_id_headers(doc: &mut Value) {
    if let Some(Value::Object(shared)) = doc.pointer_mut("/components/responses") {
        shared.values_mut().for_each(headers);
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        let operations = paths.values_mut().filter_map(Value::as_object_mut);
        for operation in operations.flat_map(|item| item.values_mut()) {
            if let Some(Value::Object(answers)) = operation.get_mut("responses") {
                // References point at the shared responses, which have it already.
                let inline = answers.values_mut().filter(|r| r.get("$ref").is_none());
                inline.for_each(headers);
            }
        }
    }
}

/// The headers of one answer.
fn headers(response: &mut Value) {
    response["headers"]["x-request-id"] = json!({
        "description": "The request's id, also in error bodies, stream events, logs and the \
            usage row.",
        "required": true,
        "schema": {"type": "string", "pattern": REQUEST_ID},
    });
    if let Some(auth) = response.pointer_mut("/headers/WWW-Authenticate") {
        auth["required"] = json!(true);
        auth["schema"] = json!({"type": "string", "enum": ["Bearer"]});
    }
    if let Some(retry) = response.pointer_mut("/headers/Retry-After/schema") {
        retry["minimum"] = json!(1);
    }
}
