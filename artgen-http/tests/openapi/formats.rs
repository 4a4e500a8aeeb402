//! The format rules of the document (`strict::format_rules`): what each output format allows
//! whatever the model, evaluated on bodies that break one rule and on bodies a model takes.

use serde_json::{json, Value};

use super::rules::accepted;

/// Whether a body meets a schema, for the keywords the format rules use (`required`,
/// `properties`, `enum`, `const`, `type`, `maximum`, `anyOf`, `if`/`then`).
fn meets(schema: &Value, body: &Value) -> bool {
    let Some(schema) = schema.as_object() else {
        return true;
    };
    schema.iter().all(|(keyword, rule)| match keyword.as_str() {
        "required" => rule
            .as_array()
            .into_iter()
            .flatten()
            .all(|f| body.get(f.as_str().unwrap_or_default()).is_some()),
        "properties" => rule
            .as_object()
            .into_iter()
            .flatten()
            .all(|(name, rule)| body.get(name).is_none_or(|value| meets(rule, value))),
        "enum" => rule.as_array().is_some_and(|values| values.contains(body)),
        "const" => rule == body,
        "type" => match rule.as_str() {
            Some("integer") => body.is_i64(),
            Some("object") => body.is_object(),
            Some("null") => body.is_null(),
            _ => panic!("type {rule}"),
        },
        "maximum" => body.as_f64().is_some_and(|v| Some(v) <= rule.as_f64()),
        "anyOf" => rule
            .as_array()
            .is_some_and(|r| r.iter().any(|s| meets(s, body))),
        "if" => !meets(rule, body) || meets(&schema["then"], body),
        "then" => true,
        other => panic!("keyword {other}"),
    })
}

#[test]
fn each_format_allows_what_the_server_allows_it_whatever_the_model() {
    let doc = super::json();
    // (body, whether the server may take it): each refused one breaks exactly one rule.
    let gif = "gpt-image-2.5-sunburst";
    let cases = [
        (json!({"frame_count": 3}), false),
        (
            json!({"frame_duration_ms": 100, "output_format": "png"}),
            false,
        ),
        (
            json!({"model": gif, "output_format": "gif", "frame_count": 3}),
            true,
        ),
        (
            json!({"model": gif, "format": "gif", "frame_duration_ms": 100}),
            true,
        ),
        (json!({"svg": {}}), false),
        (
            json!({"model": gif, "svg": {}, "output_format": "webp"}),
            false,
        ),
        (json!({"model": gif, "output_format": "svg", "n": 2}), false),
        (
            json!({"model": gif, "output_format": "svg", "stream": true}),
            false,
        ),
        (
            json!({"model": gif, "output_format": "svg", "output_compression": 100}),
            false,
        ),
        (
            json!({"model": "gpt-image-1", "output_compression": 99}),
            false,
        ),
        (
            json!({"model": "gpt-image-1", "output_compression": 50, "format": "gif"}),
            false,
        ),
        (
            json!({"model": "gpt-image-1", "output_compression": 100}),
            true,
        ),
        (
            json!({"model": "gpt-image-1", "output_compression": 0, "format": "jpeg"}),
            true,
        ),
        (
            json!({"model": "gpt-image-1", "background": "transparent"}),
            true,
        ),
        (
            json!({"model": "gpt-image-1", "background": "transparent", "format": "jpeg"}),
            false,
        ),
        (
            json!({"model": "gpt-image-1", "background": "transparent", "output_format": "webp"}),
            true,
        ),
    ];
    for schema in [
        "GenerateRequest",
        "OpenAiGenerateRequest",
        "EditForm",
        "OpenAiEditForm",
    ] {
        let rules = &doc["components"]["schemas"][schema]["allOf"];
        assert_eq!(rules.as_array().map(Vec::len), Some(6), "{schema}");
        for (body, takes) in &cases {
            let server = accepted(body.clone());
            assert_eq!(server.is_ok(), *takes, "{body}: {server:?}");
            let documented = rules
                .as_array()
                .into_iter()
                .flatten()
                .all(|r| meets(r, body));
            assert_eq!(documented, *takes, "{schema}: {body}");
        }
    }
}
