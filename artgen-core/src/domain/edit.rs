//! Edits (prompt + image(s) + optional mask) and variations (DALL·E 2: image only).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Catalog, ModelSpec};
use super::options::{Dimensions, OutputFormat, ResponseFormat, SizeSpec};
use super::request::{GenerateParams, GenerateRequest, ImageCount};
use super::upload::UploadedImage;
use super::usage::Operation;
use crate::error::{Error, ErrorCode, Result};

/// How closely an edit keeps the input's details (gpt-image-1 and 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFidelity {
    /// Default.
    Low,
    /// Keep faces and details; more input tokens.
    High,
}

impl std::fmt::Display for InputFidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InputFidelity {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::High => "high",
        }
    }
}

/// An edit as the caller sent it: the options of a generation plus the uploads.
#[derive(Debug, Clone, Default)]
pub struct EditParams {
    /// The same fields as `/generate` (`style` and `moderation` are refused for edits).
    pub options: GenerateParams,
    /// Input images, in order (the mask applies to the first).
    pub images: Vec<UploadedImage>,
    /// Optional mask: transparent pixels mark what to change.
    pub mask: Option<UploadedImage>,
    /// Optional markup: a transparent PNG overlaid on the first image to guide the edit
    /// (gpt-image-2.5; not combinable with a mask).
    pub markup: Option<UploadedImage>,
    /// Input fidelity.
    pub input_fidelity: Option<InputFidelity>,
}

/// A validated edit.
#[derive(Debug, Clone)]
pub struct EditRequest {
    base: GenerateRequest,
    images: Vec<UploadedImage>,
    mask: Option<UploadedImage>,
    markup: Option<UploadedImage>,
    input_fidelity: Option<InputFidelity>,
}

impl EditParams {
    /// Validates against the catalogue.
    ///
    /// # Errors
    /// Everything [`GenerateParams::validate`] refuses, plus, each naming its part: a model
    /// without edits (`model`), `style`/`moderation`/`input_fidelity` where unsupported, no or
    /// too many images (`image`), a format the model does not take (`invalid_image_format`),
    /// an input over the model's size limit (`image_too_large`), a non-square input where
    /// squares are required, a mask without alpha or of other dimensions than the first image
    /// (`invalid_image`, `mask`), a markup where the model takes none, with a mask, or without
    /// alpha (`markup`).
    pub fn validate(self, catalog: &Catalog) -> Result<EditRequest> {
        let model = catalog.resolve(&self.options.model, Operation::Edit)?;
        let caps = model.edits.as_ref().ok_or_else(|| {
            Error::invalid_param(
                "model",
                format!("model '{}' does not support edits", model.id),
            )
        })?;
        for (present, param) in [
            (self.options.style.is_some(), "style"),
            (self.options.moderation.is_some(), "moderation"),
            (
                self.input_fidelity.is_some() && !model.input_fidelity,
                "input_fidelity",
            ),
        ] {
            if present {
                return Err(Error::invalid_param(
                    param,
                    format!(
                        "{param} is not supported for edits with model '{}'",
                        model.id
                    ),
                ));
            }
        }
        let base = self.options.validate_for(catalog, Operation::Edit)?;
        let Some(first) = self.images.first() else {
            return Err(
                Error::new(ErrorCode::MissingParameter, "an image is required").with_param("image"),
            );
        };
        if self.images.len() > usize::from(caps.max_images) {
            return Err(Error::invalid_param(
                "image",
                format!(
                    "model '{}' accepts at most {} input images",
                    model.id, caps.max_images
                ),
            ));
        }
        for image in &self.images {
            check_input(
                image,
                &model,
                caps.max_image_bytes,
                &caps.input_formats,
                caps.square_only,
            )?;
        }
        if self.mask.is_some() && !caps.mask {
            return Err(Error::invalid_param(
                "mask",
                format!("model '{}' takes no mask", model.id),
            ));
        }
        if let Some(markup) = &self.markup {
            if !caps.markup {
                return Err(Error::invalid_param(
                    "markup",
                    format!("model '{}' takes no markup", model.id),
                ));
            }
            if self.mask.is_some() {
                return Err(Error::invalid_param(
                    "markup",
                    "markup cannot be combined with a mask",
                ));
            }
            check_input(
                markup,
                &model,
                caps.max_image_bytes,
                &[OutputFormat::Png],
                false,
            )?;
            if !markup.has_alpha() {
                return Err(invalid_image(
                    "markup",
                    "the markup must be a transparent PNG (with an alpha channel)",
                ));
            }
            if markup.dimensions() != first.dimensions() {
                return Err(invalid_image(
                    "markup",
                    &format!(
                        "the markup is {} but the image is {}; they must match",
                        markup.dimensions(),
                        first.dimensions()
                    ),
                ));
            }
        }
        if let Some(mask) = &self.mask {
            check_input(
                mask,
                &model,
                caps.max_image_bytes,
                &[OutputFormat::Png],
                false,
            )?;
            if !mask.has_alpha() {
                return Err(invalid_image(
                    "mask",
                    "the mask must be a PNG with an alpha channel",
                ));
            }
            if mask.dimensions() != first.dimensions() {
                return Err(invalid_image(
                    "mask",
                    &format!(
                        "the mask is {} but the image is {}; they must match",
                        mask.dimensions(),
                        first.dimensions()
                    ),
                ));
            }
        }
        Ok(EditRequest {
            base,
            images: self.images,
            mask: self.mask,
            markup: self.markup,
            input_fidelity: self.input_fidelity,
        })
    }
}

fn invalid_image(part: &str, message: &str) -> Error {
    Error::new(ErrorCode::InvalidImage, message).with_param(part)
}

fn check_input(
    image: &UploadedImage,
    model: &ModelSpec,
    max_bytes: u64,
    formats: &[OutputFormat],
    square_only: bool,
) -> Result<()> {
    let part = image.part().to_owned();
    if image.bytes().len() as u64 > max_bytes {
        return Err(Error::new(
            ErrorCode::ImageTooLarge,
            format!(
                "{part} is over the {max_bytes}-byte limit of model '{}'",
                model.id
            ),
        )
        .with_param(part));
    }
    if !formats.contains(&image.format()) {
        let names: Vec<_> = formats.iter().map(|f| f.as_str()).collect();
        return Err(Error::new(
            ErrorCode::InvalidImageFormat,
            format!(
                "model '{}' accepts {} for {part}",
                model.id,
                names.join(", ")
            ),
        )
        .with_param(part));
    }
    let d = image.dimensions();
    if square_only && d.width != d.height {
        return Err(invalid_image(
            &part,
            &format!("{part} must be square for model '{}' (got {d})", model.id),
        ));
    }
    Ok(())
}

impl EditRequest {
    /// The generation options (prompt, n, size, ...).
    pub fn base(&self) -> &GenerateRequest {
        &self.base
    }

    /// The generation options, to change (a budget policy lowering the quality).
    pub(crate) fn base_mut(&mut self) -> &mut GenerateRequest {
        &mut self.base
    }
    /// Input images.
    pub fn images(&self) -> &[UploadedImage] {
        &self.images
    }
    /// The mask.
    pub fn mask(&self) -> Option<&UploadedImage> {
        self.mask.as_ref()
    }
    /// The markup overlay.
    pub fn markup(&self) -> Option<&UploadedImage> {
        self.markup.as_ref()
    }
    /// Input fidelity.
    pub fn input_fidelity(&self) -> Option<InputFidelity> {
        self.input_fidelity
    }
}

/// A variation as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct VariationParams {
    /// Model (default `dall-e-2`).
    pub model: Option<String>,
    /// How many (1–10).
    pub n: Option<u32>,
    /// Output size.
    pub size: Option<String>,
    /// Output format (`png` only).
    pub format: Option<OutputFormat>,
    /// `b64_json` (default) or `url`.
    pub response_format: Option<ResponseFormat>,
    /// End-user id for the upstream.
    pub user: Option<String>,
    /// End-user id for the upstream (wins over `user` when non-empty).
    pub safety_identifier: Option<String>,
    /// Parameters ArtGen does not know, by name.
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
    /// The image to vary.
    pub image: Option<UploadedImage>,
}

/// A validated variation.
#[derive(Debug, Clone)]
pub struct VariationRequest {
    model: Arc<ModelSpec>,
    n: ImageCount,
    size: Dimensions,
    base: GenerateRequest,
    image: UploadedImage,
}

impl VariationParams {
    /// Validates against the catalogue.
    ///
    /// # Errors
    /// `invalid_request` naming `model` (no variations), `n`, `size`, `format`, `user`, or
    /// `image` (missing); the upload errors of [`EditParams::validate`] for the image.
    pub fn validate(self, catalog: &Catalog) -> Result<VariationRequest> {
        // The shared rules for n, size, format and user come from the generate validator.
        let model_id = self.model.unwrap_or_default();
        let model = catalog.resolve(&model_id, Operation::Variation)?;
        if !model.variations {
            return Err(Error::invalid_param(
                "model",
                format!(
                    "model '{}' does not make variations (dall-e-2 does)",
                    model.id
                ),
            ));
        }
        let base = GenerateParams {
            model: model_id,
            prompt: "variation".into(),
            n: self.n,
            size: self.size,
            format: self.format,
            response_format: self.response_format,
            user: self.user,
            safety_identifier: self.safety_identifier,
            extra: self.extra,
            ..GenerateParams::default()
        }
        .validate_for(catalog, Operation::Variation)?;
        let image = self.image.ok_or_else(|| {
            Error::new(ErrorCode::MissingParameter, "an image is required").with_param("image")
        })?;
        let max_image_bytes = model
            .edits
            .as_ref()
            .map_or(4 * 1024 * 1024, |caps| caps.max_image_bytes);
        check_input(&image, &model, max_image_bytes, &[OutputFormat::Png], true)?;
        let size = match base.size() {
            SizeSpec::Exact(d) => d,
            SizeSpec::Auto => Dimensions::new(1024, 1024),
        };
        Ok(VariationRequest {
            model,
            n: base.n(),
            size,
            base,
            image,
        })
    }
}

impl VariationRequest {
    /// The model.
    pub fn model(&self) -> &Arc<ModelSpec> {
        &self.model
    }
    /// How many.
    pub fn n(&self) -> ImageCount {
        self.n
    }
    /// Output size.
    pub fn size(&self) -> Dimensions {
        self.size
    }
    /// How the answer carries images.
    pub fn response_format(&self) -> ResponseFormat {
        self.base.response_format()
    }
    /// The shared options (n, size, end-user id, forwarded parameters); its prompt is a
    /// stand-in and never sent.
    pub fn options(&self) -> &GenerateRequest {
        &self.base
    }
    /// The image to vary.
    pub fn image(&self) -> &UploadedImage {
        &self.image
    }
}
