//! The request rules the derive cannot state, written into the generated document as JSON
//! Schema keywords, so that the document refuses what the server refuses before it looks at
//! any model: blank prompts, malformed sizes and user ids, names no parameter could have,
//! both spellings of the format, a markup with a mask, `null` or an unknown file in a form.
//! What depends on the model (sizes, qualities, `n`, prompt length, options only some models
//! take) is catalogue data, described in prose.
//!
//! Two things the derive cannot see are added first: the `output_format` spelling of `format`
//! (a serde alias of the DTOs' field) and the file parts of a form, which the form reader keeps
//! apart from the text fields the DTOs read ([`FormSpec`] says which it takes).
//!
//! Each pattern is spelled so that ECMA-262 (the dialect JSON Schema names), Python's `re`
//! and Rust's `regex` read it alike; `tests/openapi.rs` checks each against the server's own
//! test.

use artgen_core::domain::OutputFormat;
use serde_json::{json, Map, Value};

use crate::form::FormSpec;
use crate::wire::{EDIT_FIELDS, VARIATION_FIELDS};

/// Text that is not blank: at least one character outside `char::is_whitespace` (Unicode
/// `White_Space`), as `Prompt::new` tests it.
pub const NON_BLANK: &str =
    "[^\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";
/// A `size` as `Dimensions::parse` reads it, or `auto`.
pub const SIZE: &str = "^(auto|[0-9]{1,5}x[0-9]{1,5})$";
/// `user` and `safety_identifier`: no control character (`char::is_control`).
pub const PRINTABLE: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";
/// Longest `user` and `safety_identifier`, in characters.
pub const MAX_USER_CHARS: u64 = 256;
/// A JSON parameter's name, known or forwarded.
pub const PARAM_NAME: &str = "^[A-Za-z0-9_]{1,64}$";
/// A form part's name: a parameter name with bracketed keys for nested objects
/// (`svg[reasoning][effort]`), or an image's (`image[]`, `image[0]`).
pub const PART_NAME: &str = "^([A-Za-z0-9_]{1,64}(\\[[A-Za-z0-9_]{1,64}\\])*|image\\[[0-9]*\\])$";
/// The numbered image parts of an edit.
pub const NUMBERED_IMAGE: &str = "^image\\[[0-9]+\\]$";
/// Any image part of an edit.
pub const ANY_IMAGE: &str = "^image(\\[[0-9]*\\])?$";
/// The image parts a one-image form refuses.
const ANY_IMAGE_BUT_ONE: &str = "^image\\[[0-9]*\\]$";
/// An `Idempotency-Key`: 1–255 visible ASCII characters.
pub const IDEMPOTENCY_KEY: &str = "^[!-~]{1,255}$";
/// The JSON request schemas of the document.
const JSON_REQUESTS: [&str; 2] = ["GenerateRequest", "OpenAiGenerateRequest"];

/// The multipart request schemas of the document, and the parts each reads.
const FORMS: [(&str, FormSpec); 3] = [
    ("EditForm", EDIT_FIELDS),
    ("OpenAiEditForm", EDIT_FIELDS),
    ("VariationForm", VARIATION_FIELDS),
];

/// Tightens the request schemas of the generated document.
pub(super) fn tighten(doc: &mut Value) {
    for name in JSON_REQUESTS {
        if let Some(schema) = schema(doc, name) {
            synonym(
                schema,
                "Synonym of `format` (OpenAI's name); send one of the two.",
            );
            json_request(schema);
        }
    }
    for (name, spec) in FORMS {
        if let Some(schema) = schema(doc, name) {
            if spec.text.contains(&"output_format") {
                synonym(schema, "Synonym of `format`.");
            }
            file_parts(schema, spec);
            form(schema, spec);
        }
    }
}

/// Documents `output_format`, the serde alias of the DTOs' `format`, as a property of its own.
fn synonym(schema: &mut Map<String, Value>, description: &str) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    let Some(mut output_format) = properties.get("format").cloned() else {
        return;
    };
    // The description sits where the derive put `format`'s: beside the reference.
    match output_format.get_mut("oneOf") {
        Some(Value::Array(choices)) => choices
            .iter_mut()
            .filter(|choice| choice.get("$ref").is_some())
            .for_each(|choice| choice["description"] = json!(description)),
        _ => output_format["description"] = json!(description),
    }
    properties.insert("output_format".into(), output_format);
}

/// The file parts of a form, as the form reader takes them: `image` (required when it is
/// the only image), and where the spec says so `image[]`, `mask` and `markup`.
fn file_parts(schema: &mut Map<String, Value>, spec: FormSpec) {
    let file = |description: &str| json!({"$ref": "#/components/schemas/ImageFile", "description": description});
    let image = if spec.many_images {
        "The image to edit."
    } else {
        "The image to vary."
    };
    let mut parts = vec![("image", file(image))];
    if spec.many_images {
        parts.push((
            "image[]",
            json!({"type": "array", "items": {"$ref": "#/components/schemas/ImageFile"},
                "minItems": 1, "description": "Several images to edit together (GPT image)."}),
        ));
    }
    if spec.mask {
        let mask = "Where to edit: a PNG with an alpha channel, the size of the first image.";
        parts.push(("mask", file(mask)));
    }
    if spec.markup {
        let markup = "A transparent PNG overlaid on the first image to guide the edit \
            (gpt-image-2.5; not with `mask`).";
        parts.push(("markup", file(markup)));
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.extend(
            parts
                .into_iter()
                .map(|(name, part)| (name.to_owned(), part)),
        );
    }
    if !spec.many_images {
        let required = schema.entry("required").or_insert_with(|| json!([]));
        if let Value::Array(required) = required {
            required.insert(0, json!("image"));
        }
    }
}

/// A component schema, as an object.
pub(super) fn schema<'a>(doc: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    doc.get_mut("components")?
        .get_mut("schemas")?
        .get_mut(name)?
        .as_object_mut()
}

/// A property of a schema, as an object.
pub(super) fn property<'a>(
    schema: &'a mut Map<String, Value>,
    name: &str,
) -> Option<&'a mut Map<String, Value>> {
    schema.get_mut("properties")?.get_mut(name)?.as_object_mut()
}

/// The checks of the text parameters every model shares.
fn text_rules(schema: &mut Map<String, Value>) {
    let rules = [
        ("prompt", json!({"pattern": NON_BLANK})),
        ("size", json!({"pattern": SIZE})),
        (
            "user",
            json!({"pattern": PRINTABLE, "maxLength": MAX_USER_CHARS}),
        ),
        (
            "safety_identifier",
            json!({"pattern": PRINTABLE, "maxLength": MAX_USER_CHARS}),
        ),
    ];
    for (name, rule) in rules {
        if let (Some(property), Value::Object(rule)) = (property(schema, name), rule) {
            property.extend(rule);
        }
    }
}

/// Parameters that exclude each other: `format` and `output_format` are one parameter (the
/// second spelling is refused as a repeat), and a markup is not combined with a mask.
fn exclusive(schema: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    let mut dependent = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object);
    let has = |name: &str| properties.is_some_and(|p| p.contains_key(name));
    for (first, second) in pairs {
        if has(first) && has(second) {
            let refused = Map::from_iter([((*second).to_owned(), json!(false))]);
            dependent.insert((*first).into(), json!({"properties": refused}));
        }
    }
    if !dependent.is_empty() {
        schema.insert("dependentSchemas".into(), Value::Object(dependent));
    }
}

const EXCLUSIVE: [(&str, &str); 2] = [("format", "output_format"), ("mask", "markup")];

/// What each output format allows, whatever the model: GIF options only with `gif`, SVG
/// options only with `svg` (which makes one image, and neither streams nor compresses), a
/// compression below 100 only with `jpeg` or `webp`, a transparent background only with a
/// format that has alpha. No `format` (or `output_format`) means `png`.
fn format_rules(schema: &mut Map<String, Value>) {
    let names =
        |formats: &[OutputFormat]| -> Vec<&str> { formats.iter().map(|f| f.as_str()).collect() };
    // The format is one of these, by either name.
    let is = |formats: &[OutputFormat]| {
        let names = names(formats);
        json!({"anyOf": [
            {"required": ["format"], "properties": {"format": {"enum": names}}},
            {"required": ["output_format"], "properties": {"output_format": {"enum": names}}},
        ]})
    };
    let sent = |field: &str, value: Value| {
        let value = Map::from_iter([(field.to_owned(), value)]);
        json!({"required": [field], "properties": value})
    };
    let gif = is(&[OutputFormat::Gif]);
    let svg = is(&[OutputFormat::Svg]);
    let alpha: Vec<OutputFormat> = OutputFormat::ALL
        .iter()
        .copied()
        .filter(|f| f.supports_alpha())
        .collect();
    let mut alpha = names(&alpha)
        .into_iter()
        .map(Value::from)
        .collect::<Vec<_>>();
    alpha.push(Value::Null);
    let rules = json!([
        {"if": sent("frame_count", json!({"type": "integer"})), "then": gif},
        {"if": sent("frame_duration_ms", json!({"type": "integer"})), "then": gif},
        {"if": sent("svg", json!({"type": "object"})), "then": svg},
        {"if": svg, "then": {"properties": {
            "n": {"enum": [1, null]},
            "stream": {"enum": [false, null]},
            "output_compression": {"type": "null"},
        }}},
        {
            "if": sent("output_compression", json!({"type": "integer", "maximum": 99})),
            "then": is(&[OutputFormat::Jpeg, OutputFormat::Webp]),
        },
        {
            "if": sent("background", json!({"const": "transparent"})),
            "then": {"properties": {"format": {"enum": alpha}, "output_format": {"enum": alpha}}},
        },
    ]);
    schema.insert("allOf".into(), rules);
}

fn json_request(schema: &mut Map<String, Value>) {
    text_rules(schema);
    schema.insert(
        "additionalProperties".into(),
        json!({"description": "A parameter ArtGen does not know: forwarded to the upstream \
            unchanged, unless the operator refuses them (400 `unknown_parameter`)."}),
    );
    schema.insert("propertyNames".into(), json!({"pattern": PARAM_NAME}));
    exclusive(schema, &EXCLUSIVE);
    format_rules(schema);
}

/// Fields of `/generate` that every edit refuses (`EditParams::validate`): the form reads them,
/// so they are not forwarded either.
pub const REFUSED_IN_EDITS: [&str; 2] = ["style", "moderation"];

fn form(schema: &mut Map<String, Value>, spec: FormSpec) {
    text_rules(schema);
    // A form part is text or a file, never `null`: the text "null" is no value of any field.
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for property in properties.values_mut() {
            not_null(property);
        }
        if spec.many_images {
            for name in REFUSED_IN_EDITS {
                properties.insert(name.into(), json!(false));
            }
        }
    }
    schema.insert(
        "additionalProperties".into(),
        json!({"type": "string", "description": "A text field ArtGen does not know: forwarded \
            to the upstream unchanged, unless the operator refuses them (400 \
            `unknown_parameter`). A file part of another name is refused."}),
    );
    schema.insert("propertyNames".into(), json!({"pattern": PART_NAME}));
    // The bracket style is for object fields; a known text field takes no keys.
    let flat: Vec<&str> = spec
        .text
        .iter()
        .copied()
        .filter(|name| !spec.objects.contains(name))
        .collect();
    let mut patterns = Map::new();
    patterns.insert(format!("^({})\\[", flat.join("|")), json!(false));
    if spec.many_images {
        patterns.insert(
            NUMBERED_IMAGE.into(),
            json!({"$ref": "#/components/schemas/ImageFile"}),
        );
        // At least one image part (`image`, `image[]` or `image[N]`): not every part's name
        // is another's.
        schema.insert(
            "not".into(),
            json!({"propertyNames": {"not": {"pattern": ANY_IMAGE}}}),
        );
    } else {
        patterns.insert(ANY_IMAGE_BUT_ONE.into(), json!(false));
    }
    schema.insert("patternProperties".into(), Value::Object(patterns));
    exclusive(schema, &EXCLUSIVE);
    if spec.text.contains(&"output_format") {
        format_rules(schema);
    }
}

/// Removes `null` from a property's type (`["string", "null"]`, or a `oneOf` with
/// `{"type": "null"}`).
pub(super) fn not_null(property: &mut Value) {
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if let [single] = types.as_slice() {
            property["type"] = single.clone();
        }
        return;
    }
    let Some(Value::Array(choices)) = property.get("oneOf") else {
        return;
    };
    let kept: Vec<Value> = choices
        .iter()
        .filter(|c| c.get("type") != Some(&json!("null")))
        .cloned()
        .collect();
    if let [single] = kept.as_slice() {
        *property = single.clone();
    }
}
