//! Uploads and edit/variation jobs for the tests, and a small `multipart/form-data` reader
//! to check what the provider sent.

use artgen_core::domain::{
    Catalog, Dimensions, EditParams, GenerateParams, ImageJob, InputFidelity, OutputFormat,
    UploadedImage, VariationParams,
};
use artgen_core::testing::render;
use bytes::Bytes;
use wiremock::Request;

/// Upload limit used by the tests (the largest a model accepts).
const MAX_UPLOAD: u64 = 50 * 1024 * 1024;

/// A real image of `format`, `side` pixels square; `alpha` punches a transparent border.
pub(crate) fn image(format: OutputFormat, side: u32, alpha: bool, seed: u8) -> Bytes {
    render(Dimensions::new(side, side), format, alpha, seed).expect("renders")
}

/// An upload as the HTTP layer hands it to the core.
pub(crate) fn upload(part: &str, filename: &str, bytes: Bytes) -> UploadedImage {
    UploadedImage::inspect(part, Some(filename), None, bytes, MAX_UPLOAD).expect("valid upload")
}

/// A validated edit of `model`.
pub(crate) fn edit(
    model: &str,
    options: GenerateParams,
    images: Vec<UploadedImage>,
    mask: Option<UploadedImage>,
    input_fidelity: Option<InputFidelity>,
) -> ImageJob {
    let params = EditParams {
        options: GenerateParams {
            model: model.into(),
            prompt: "add a red scarf".into(),
            ..options
        },
        images,
        mask,
        markup: None,
        input_fidelity,
    };
    ImageJob::Edit(params.validate(&Catalog::default()).expect("valid edit"))
}

/// A validated dall-e-2 variation.
pub(crate) fn variation(params: VariationParams) -> ImageJob {
    ImageJob::Variation(
        params
            .validate(&Catalog::default())
            .expect("valid variation"),
    )
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormPart {
    /// `name` of the `Content-Disposition`.
    pub(crate) name: String,
    /// `filename`, for files.
    pub(crate) filename: Option<String>,
    /// `Content-Type`, for files.
    pub(crate) content_type: Option<String>,
    /// The content.
    pub(crate) body: Vec<u8>,
}

impl FormPart {
    /// The content as text.
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a text field")
    }
}

/// Where `needle` first occurs in `haystack` at or after `from`.
pub(crate) fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| at + from)
}

/// The parts of a `multipart/form-data` request, in order.
pub(crate) fn parts(request: &Request) -> Vec<FormPart> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .expect("a content type");
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("a multipart body");
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0).expect("a first boundary") + delimiter.len();
    while body.get(at..at + 2) == Some(b"\r\n") {
        let head_end = find(body, b"\r\n\r\n", at).expect("part headers end");
        let head = std::str::from_utf8(&body[at + 2..head_end]).expect("ASCII headers");
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), head_end)
            .expect("a closing boundary");
        parts.push(part(head, body[head_end + 4..next].to_vec()));
        at = next + 2 + delimiter.len();
    }
    assert_eq!(
        body.get(at..at + 2),
        Some(&b"--"[..]),
        "the body ends properly"
    );
    parts
}

fn part(head: &str, body: Vec<u8>) -> FormPart {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let (header, value) = line.split_once(": ").expect("a header line");
        if header.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if header.eq_ignore_ascii_case("content-disposition") {
            for attr in value.split("; ").skip(1) {
                let (key, quoted) = attr.split_once('=').expect("key=value");
                let unquoted = quoted.trim_matches('"').to_owned();
                match key {
                    "name" => name = Some(unquoted),
                    "filename" => filename = Some(unquoted),
                    other => panic!("unexpected attribute {other}"),
                }
            }
        }
    }
    FormPart {
        name: name.expect("a part name"),
        filename,
        content_type,
        body,
    }
}

/// The names of the parts, in order.
pub(crate) fn names(parts: &[FormPart]) -> Vec<&str> {
    parts.iter().map(|p| p.name.as_str()).collect()
}

/// The one part named `name`.
pub(crate) fn field<'p>(parts: &'p [FormPart], name: &str) -> &'p FormPart {
    let mut found = parts.iter().filter(|p| p.name == name);
    let part = found.next().unwrap_or_else(|| panic!("no part {name}"));
    assert!(found.next().is_none(), "several parts {name}");
    part
}
