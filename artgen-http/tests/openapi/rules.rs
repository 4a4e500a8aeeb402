//! The rules the document adds to the derived schemas (`artgen_http::openapi::strict`), each
//! checked against the server's own test: a pattern or bound the document states must accept
//! exactly what the server accepts.

use std::sync::OnceLock;

use artgen_core::domain::{Catalog, Dimensions, GenerateParams, Prompt};
use artgen_core::ErrorCode;
use artgen_http::extract::from_value;
use artgen_http::wire::GenerateBody;
use regex::Regex;
use serde_json::{json, Value};

use super::properties;

/// A property's schema in a component schema.
pub(crate) fn property(doc: &Value, schema: &str, name: &str) -> Value {
    doc["components"]["schemas"][schema]["properties"][name].clone()
}

/// A pattern of the document, compiled (ECMA-262 and Rust's `regex` read these alike).
pub(crate) fn pattern(schema: &Value) -> Regex {
    let text = schema["pattern"].as_str().expect("a pattern");
    Regex::new(text).expect("the pattern compiles")
}

/// Whether the shipped catalogue takes these parameters (`prompt` defaults to `a cat`).
pub(crate) fn accepted(mut body: Value) -> Result<(), artgen_core::Error> {
    if body.get("prompt").is_none() {
        body["prompt"] = json!("a cat");
    }
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    let params: GenerateParams = from_value::<GenerateBody>(body)?.into();
    params
        .validate(CATALOG.get_or_init(Catalog::shipped))
        .map(|_| ())
}

#[test]
fn the_prompt_pattern_is_the_non_blank_test_of_prompts() {
    let doc = super::json();
    for schema in ["GenerateRequest", "EditForm"] {
        let non_blank = pattern(&property(&doc, schema, "prompt"));
        // Every character alone: whitespace is exactly what the pattern does not match.
        for c in ('\0'..='\u{3100}').chain(['\u{FEFF}', '\u{10FFFF}']) {
            let text = c.to_string();
            let server = Prompt::new(text.clone(), 10).is_ok();
            assert_eq!(non_blank.is_match(&text), server, "{schema}: {:?}", c);
        }
        assert!(non_blank.is_match(" \t a \n"));
    }
}

#[test]
fn the_size_pattern_is_what_the_server_reads_as_a_size() {
    let doc = super::json();
    let size = pattern(&property(&doc, "GenerateRequest", "size"));
    let samples = [
        "auto",
        "1024x1024",
        "0x0",
        "99999x1",
        "100000x1",
        "1x",
        "x1",
        "1024X1024",
        " 1x1",
        "1x1 ",
        "+1x1",
        "1x1x1",
        "\u{661}x1",
        "",
        "Auto",
        "auto ",
        "1x-1",
    ];
    for text in samples {
        let server = text == "auto" || Dimensions::parse(text).is_some();
        assert_eq!(size.is_match(text), server, "{text:?}");
    }
}

#[test]
fn user_ids_are_at_most_256_printable_characters() {
    let doc = super::json();
    for name in ["user", "safety_identifier"] {
        let schema = property(&doc, "GenerateRequest", name);
        assert_eq!(schema["maxLength"], 256, "{name}");
        let printable = pattern(&schema);
        for c in ('\0'..='\u{3100}')
            .step_by(7)
            .chain(['\u{7f}', '\u{9f}', '\u{a0}'])
        {
            let text = format!("id{c}");
            let server = accepted(json!({ name: text })).is_ok();
            assert_eq!(printable.is_match(&text), server, "{name}: {c:?}");
        }
        let longest = "é".repeat(256);
        assert!(accepted(json!({ name: longest })).is_ok());
        assert!(accepted(json!({ name: format!("{longest}é") })).is_err());
    }
}

#[test]
fn unknown_json_parameters_are_forwarded_under_the_documented_names() {
    let doc = super::json();
    let schema = &doc["components"]["schemas"]["GenerateRequest"];
    assert!(schema["additionalProperties"].is_object(), "forwarded");
    let name = pattern(&schema["propertyNames"]);
    let long = "n".repeat(64);
    let longer = "n".repeat(65);
    for field in [
        "future_option",
        "X9",
        &long,
        &longer,
        "a-b",
        "a b",
        "é",
        "svg[model]",
    ] {
        let server = accepted(json!({ field: 1 }));
        let refused = server
            .as_ref()
            .is_err_and(|e| e.code() == ErrorCode::UnknownParameter);
        assert_eq!(name.is_match(field), !refused, "{field}: {server:?}");
    }
}

#[test]
fn json_parameters_take_null_and_form_fields_never_do() {
    let doc = super::json();
    for field in properties(&doc, "GenerateRequest") {
        let schema = property(&doc, "GenerateRequest", &field);
        let text = schema.to_string();
        let nullable = text.contains(r#""null""#);
        let server = from_value::<GenerateBody>(json!({"prompt": "p", field.as_str(): null}));
        assert_eq!(nullable, server.is_ok(), "{field}: {schema}");
    }
    for form in ["EditForm", "OpenAiEditForm", "VariationForm"] {
        for field in properties(&doc, form) {
            let schema = property(&doc, form, &field).to_string();
            assert!(!schema.contains(r#""null""#), "{form}.{field}: {schema}");
        }
    }
}

#[test]
fn format_and_output_format_exclude_each_other_as_the_server_does() {
    let doc = super::json();
    for schema in ["GenerateRequest", "EditForm"] {
        let dependent = &doc["components"]["schemas"][schema]["dependentSchemas"];
        assert_eq!(
            dependent["format"],
            json!({"properties": {"output_format": false}})
        );
    }
    let both = json!({"prompt": "p", "format": "png", "output_format": "png"});
    assert!(from_value::<GenerateBody>(both).is_err());
}

#[test]
fn integer_bounds_are_the_servers() {
    let doc = super::json();
    // (field, a body in which a model takes it)
    let cases = [
        ("n", json!({"model": "dall-e-2"})),
        (
            "output_compression",
            json!({"model": "gpt-image-1", "output_format": "jpeg"}),
        ),
        (
            "partial_images",
            json!({"model": "gpt-image-1", "stream": true}),
        ),
        (
            "frame_count",
            json!({"model": "gpt-image-2.5-sunburst", "output_format": "gif"}),
        ),
        (
            "frame_duration_ms",
            json!({"model": "gpt-image-2.5-sunburst", "output_format": "gif"}),
        ),
    ];
    for (field, base) in cases {
        let schema = property(&doc, "GenerateRequest", field);
        let min = schema["minimum"].as_i64().expect("a minimum");
        let max = schema["maximum"].as_i64().expect("a maximum");
        let with = |value: i64| {
            let mut body = base.clone();
            body[field] = json!(value);
            accepted(body)
        };
        assert!(with(min).is_ok(), "{field} = {min}: {:?}", with(min));
        assert!(with(max).is_ok(), "{field} = {max}: {:?}", with(max));
        assert!(with(min - 1).is_err(), "{field} = {}", min - 1);
        assert!(with(max + 1).is_err(), "{field} = {}", max + 1);
        for form in ["EditForm", "OpenAiEditForm"] {
            let bounds = property(&doc, form, field);
            assert_eq!(
                (&bounds["minimum"], &bounds["maximum"]),
                (&schema["minimum"], &schema["maximum"])
            );
        }
    }
}

#[test]
fn every_answer_documents_its_request_id_header() {
    let doc = super::json();
    let id = artgen_core::domain::RequestId::generate();
    let mut responses: Vec<&Value> = doc["components"]["responses"]
        .as_object()
        .expect("responses")
        .values()
        .collect();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("operations").values() {
            let answers = op["responses"].as_object().expect("responses");
            responses.extend(answers.values().filter(|r| r.get("$ref").is_none()));
        }
    }
    for response in responses {
        let header = &response["headers"]["x-request-id"];
        assert_eq!(header["required"], true, "{response}");
        assert!(pattern(&header["schema"]).is_match(id.as_str()));
    }
}
