//! The prompt form's fields, and their reading into request parameters: every refusal names
//! the control and the value it refuses.

use artgen_core::domain::{
    Background, Catalog, Dimensions, GenerateParams, ModelSpec, OutputFormat, Quality,
};
use serde::Deserialize;

use super::controls::{self, CustomEdges};
use super::pages::Shape;

/// The prompt form as posted (and as the estimate's query string sends it).
#[derive(Debug, Deserialize, Default, Clone)]
pub(super) struct GenerateForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) prompt: String,
    #[serde(default)]
    pub(super) model: String,
    #[serde(default)]
    pub(super) size: String,
    /// The custom width, read when `size` is `custom`.
    #[serde(default)]
    pub(super) width: String,
    /// The custom height, read when `size` is `custom`.
    #[serde(default)]
    pub(super) height: String,
    #[serde(default)]
    pub(super) quality: String,
    #[serde(default)]
    pub(super) n: String,
    #[serde(default)]
    pub(super) background: String,
    #[serde(default)]
    pub(super) format: String,
}

/// Why the form cannot be sent: the control at fault and a sentence for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The form field (`model`, `size`, `width`, `height`, `quality`, ...).
    pub(super) param: &'static str,
    /// What is wrong, naming the value.
    pub(super) message: String,
}

impl Refusal {
    fn new(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            param,
            message: message.into(),
        }
    }
}

/// A control's value: `None` when left empty, else its parse, or a refusal naming it.
fn optional<T: std::str::FromStr>(
    text: &str,
    param: &'static str,
    what: &str,
) -> Result<Option<T>, Refusal> {
    match text.trim() {
        "" => Ok(None),
        t => t.parse().map(Some).map_err(|_| {
            Refusal::new(
                param,
                format!("“{}” is not a {what} this page offers.", clip(t)),
            )
        }),
    }
}

/// At most 40 characters of what a caller typed, for a message.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A custom edge as typed, or a refusal naming it.
fn edge(text: &str, param: &'static str, edges: CustomEdges) -> Result<u32, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Refusal::new(
            param,
            format!(
                "Enter a custom {param} in pixels ({}–{} px).",
                edges.min, edges.max
            ),
        ));
    }
    let value: u32 = text.parse().map_err(|_| {
        Refusal::new(
            param,
            format!(
                "The custom {param} “{}” is not a whole number of pixels.",
                clip(text)
            ),
        )
    })?;
    match edges.refuse_edge(param, value) {
        Some(why) => Err(Refusal::new(param, why)),
        None => Ok(value),
    }
}

/// The size the form asks of `model`: a shape mapped to the model's real size, or a custom
/// size checked against the model's free-size rule.
fn size(model: &ModelSpec, form: &GenerateForm) -> Result<Dimensions, Refusal> {
    if form.size == "custom" {
        let Some(edges) = CustomEdges::of(model) else {
            return Err(Refusal::new(
                "size",
                format!(
                    "{} draws only fixed sizes ({}); choose square, portrait or landscape.",
                    model.id,
                    model.sizes.describe()
                ),
            ));
        };
        let size = Dimensions::new(
            edge(&form.width, "width", edges)?,
            edge(&form.height, "height", edges)?,
        );
        return model.sizes.check(size).map(|()| size).map_err(|why| {
            Refusal::new(
                "size",
                format!("A custom size of {size} is not possible: {why}."),
            )
        });
    }
    let shape = Shape::from_name(&form.size).unwrap_or(Shape::Square);
    shape.size_for(model).ok_or_else(|| {
        Refusal::new(
            "size",
            controls::size_refusal(model, shape.as_str()).unwrap_or_default() + ".",
        )
    })
}

/// Turns the form into request parameters, or says which control is wrong.
pub(super) fn params(catalog: &Catalog, form: &GenerateForm) -> Result<GenerateParams, Refusal> {
    let model = catalog
        .get(&form.model)
        .ok_or_else(|| Refusal::new("model", "Choose a model from the list."))?;
    let size = size(model, form)?;
    let quality = optional::<Quality>(&form.quality, "quality", "quality")?;
    let n = optional::<u32>(&form.n, "n", "number of images")?;
    let background = optional::<Background>(&form.background, "background", "background")?;
    let format = optional::<OutputFormat>(&form.format, "format", "format")?;
    Ok(GenerateParams {
        model: form.model.clone(),
        prompt: form.prompt.clone(),
        n,
        size: Some(size.to_string()),
        quality,
        background,
        format,
        ..GenerateParams::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(model: &str, width: &str, height: &str) -> GenerateForm {
        GenerateForm {
            prompt: "a kite".into(),
            model: model.into(),
            size: "custom".into(),
            width: width.into(),
            height: height.into(),
            ..GenerateForm::default()
        }
    }

    #[test]
    fn a_custom_size_within_the_rule_is_sent_as_it_was_typed() {
        let catalog = Catalog::shipped();

        let params = params(&catalog, &custom("gpt-image-2", "1280", " 720 ")).expect("fits");

        assert_eq!(params.size.as_deref(), Some("1280x720"));
    }

    #[test]
    fn each_bad_custom_value_is_refused_naming_its_control_and_value() {
        let catalog = Catalog::shipped();
        let cases = [
            (custom("gpt-image-2", "4000", "1024"), "width", "4000"),
            (custom("gpt-image-2", "1024", "lots"), "height", "lots"),
            (custom("gpt-image-2", "1024", ""), "height", "px"),
            (custom("gpt-image-2", "3840", "496"), "size", "3840x496"),
            (
                custom("gpt-image-1.5", "1024", "1024"),
                "size",
                "fixed sizes",
            ),
        ];

        for (form, param, named) in cases {
            let refusal = params(&catalog, &form).expect_err("refused");
            assert_eq!(refusal.param, param, "{refusal:?}");
            assert!(refusal.message.contains(named), "{refusal:?}");
        }
    }
}
