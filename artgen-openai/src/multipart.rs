//! The `multipart/form-data` bodies of edits and variations.
//!
//! Text fields are those of the generation body (so the per-family rules of
//! [`CreateImageRequest`] apply unchanged); files carry the caller's file name, the MIME type
//! of their detected format and their bytes exactly as uploaded (shared, not copied). One
//! input image is sent as part `image`, several as repeated `image[]` parts, as OpenAI's own
//! examples do. Part names are written as they are (`image[]`, not percent-encoded).

use artgen_core::domain::{EditRequest, UploadedImage, VariationRequest};
use reqwest::multipart::{Form, Part};
use reqwest::Body;

use crate::body::{CreateImageRequest, B64_JSON};
use crate::error::OpenAiError;

/// The body of `POST /images/edits`; with `stream`, also `stream=true` and `partial_images`.
pub(crate) fn edit_form(edit: &EditRequest, stream: bool) -> Result<Form, OpenAiError> {
    let mut body = CreateImageRequest::new(edit.base()).with_input_fidelity(edit.input_fidelity());
    if stream {
        body = body.streaming(edit.base().partial_images());
    }
    let mut form = Form::new().percent_encode_noop();
    for (name, value) in body.form_fields()? {
        form = form.text(name, value);
    }
    let part_name = match edit.images() {
        [_] => "image",
        _ => "image[]",
    };
    for image in edit.images() {
        form = form.part(part_name, file(image)?);
    }
    if let Some(mask) = edit.mask() {
        form = form.part("mask", file(mask)?);
    }
    if let Some(markup) = edit.markup() {
        form = form.part("markup", file(markup)?);
    }
    Ok(form)
}

/// The body of `POST /images/variations` (always asking for `b64_json`).
pub(crate) fn variation_form(variation: &VariationRequest) -> Result<Form, OpenAiError> {
    let options = variation.options();
    let mut form = Form::new()
        .percent_encode_noop()
        .text("model", variation.model().upstream_id.clone())
        .text("n", variation.n().get().to_string())
        .text("size", variation.size().to_string())
        .text("response_format", B64_JSON);
    if let Some(id) = options.safety_identifier() {
        form = form.text(options.safety_identifier_param(), id.to_owned());
    }
    let known = [
        "model",
        "n",
        "size",
        "response_format",
        "user",
        "safety_identifier",
        "image",
    ];
    for (name, value) in options.forwarded() {
        if !known.contains(&name.as_str()) {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            form = form.text(name.clone(), text);
        }
    }
    Ok(form.part("image", file(variation.image())?))
}

/// A file part: the upload's name, the MIME of its content, its bytes unchanged.
fn file(image: &UploadedImage) -> Result<Part, OpenAiError> {
    Part::stream(Body::from(image.bytes().clone()))
        .file_name(image.filename().to_owned())
        .mime_str(image.format().mime())
        .map_err(OpenAiError::Form)
}
