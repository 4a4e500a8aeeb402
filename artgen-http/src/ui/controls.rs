//! What the prompt page's controls allow for one model, and why the rest is off: the same
//! rules decide which options the server renders disabled, what the script switches when the
//! model changes (through `data-*` attributes), and what the handlers refuse.

use artgen_core::domain::{Background, Dimensions, ModelSpec, OutputFormat, Quality, SizeRule};

use super::pages::Shape;

/// The edge limits of a custom size, for a model that draws free sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CustomEdges {
    /// The shortest edge any allowed size can have.
    pub(crate) min: u32,
    /// The longest allowed edge.
    pub(crate) max: u32,
    /// Each edge is a multiple of this.
    pub(crate) step: u32,
    /// Longest over shortest edge may not exceed this.
    pub(crate) max_ratio: u32,
}

impl CustomEdges {
    /// The limits of `model`'s custom sizes; `None` when it draws only fixed sizes.
    pub(crate) fn of(model: &ModelSpec) -> Option<Self> {
        let SizeRule::Free {
            edge_multiple,
            max_ratio,
            min_pixels,
            max_edge,
            ..
        } = &model.sizes
        else {
            return None;
        };
        let step = (*edge_multiple).max(1);
        let ratio = (*max_ratio).max(1);
        // The shortest edge of a size that still has enough pixels: its other edge is as
        // long as the ratio and the longest edge allow.
        let mut min = step;
        while min < *max_edge {
            let other = u64::from(min.saturating_mul(ratio).min(*max_edge));
            if u64::from(min) * other >= *min_pixels {
                break;
            }
            min += step;
        }
        Some(Self {
            min,
            max: *max_edge,
            step,
            max_ratio: ratio,
        })
    }

    /// `min max step`, as the script reads them.
    pub(crate) fn data(self) -> String {
        format!("{} {} {}", self.min, self.max, self.step)
    }

    /// Why `edge` px is refused for one edge (`what` is "width" or "height"), if it is.
    pub(crate) fn refuse_edge(self, what: &str, edge: u32) -> Option<String> {
        (edge < self.min || edge > self.max || !edge.is_multiple_of(self.step)).then(|| {
            format!(
                "A custom {what} of {edge} px is not possible: it must be {}–{} px in steps \
                 of {} px.",
                self.min, self.max, self.step
            )
        })
    }
}

/// The `data-custom` value of a model option: `min max step`, empty for fixed sizes.
pub(crate) fn custom_data(model: &ModelSpec) -> String {
    CustomEdges::of(model)
        .map(CustomEdges::data)
        .unwrap_or_default()
}

/// What the custom size inputs' hint says for `model`.
pub(crate) fn custom_hint(model: &ModelSpec) -> String {
    match CustomEdges::of(model) {
        Some(edges) => format!(
            "Custom size for {}: each edge {}–{} px in steps of {} px, longest edge at most {}× \
             the shortest.",
            model.id, edges.min, edges.max, edges.step, edges.max_ratio
        ),
        None => format!(
            "{} draws only fixed sizes ({}), so a custom size is off.",
            model.id,
            model.sizes.describe()
        ),
    }
}

/// Why `model` refuses a size option (a shape or `custom`), if it does.
pub(crate) fn size_refusal(model: &ModelSpec, option: &str) -> Option<String> {
    if option == "custom" {
        return CustomEdges::of(model)
            .is_none()
            .then(|| format!("{} draws only fixed sizes", model.id));
    }
    let shape = Shape::from_name(option)?;
    shape
        .size_for(model)
        .is_none()
        .then(|| format!("{} draws no {} images", model.id, shape.as_str()))
}

/// Why `model` refuses a quality, if it does (the empty value, the default, never is).
pub(crate) fn quality_refusal(model: &ModelSpec, quality: Quality) -> Option<String> {
    (!model.qualities.contains(&quality))
        .then(|| format!("{} does not take quality {quality}", model.id))
}

/// Why `model` refuses a background, if it does.
pub(crate) fn background_refusal(model: &ModelSpec, background: Background) -> Option<String> {
    if model.backgrounds.is_empty() {
        return Some(format!("{} has no background choice", model.id));
    }
    (!model.backgrounds.contains(&background))
        .then(|| format!("{} does not draw a {background} background", model.id))
}

/// Why `model` refuses an output format, if it does.
pub(crate) fn format_refusal(model: &ModelSpec, format: OutputFormat) -> Option<String> {
    (!model.output_formats.contains(&format))
        .then(|| format!("{} does not write {}", model.id, format.as_str()))
}

/// One sentence on what `model` takes, shown under the advanced controls (and switched by the
/// script with the model).
pub(crate) fn limits(model: &ModelSpec) -> String {
    let shapes: Vec<&str> = Shape::ALL
        .into_iter()
        .filter(|s| s.size_for(model).is_some())
        .map(Shape::as_str)
        .collect();
    let mut parts = vec![format!("sizes: {}", shapes.join(", "))];
    parts.push(match CustomEdges::of(model) {
        Some(_) => "custom sizes".to_owned(),
        None => "no custom size".to_owned(),
    });
    let qualities: Vec<String> = model.qualities.iter().map(ToString::to_string).collect();
    parts.push(format!("quality: {}", qualities.join(", ")));
    if model.backgrounds.contains(&Background::Transparent) {
        parts.push("transparent background".to_owned());
    } else {
        parts.push("no transparent background".to_owned());
    }
    let formats: Vec<&str> = model.output_formats.iter().map(|f| f.as_str()).collect();
    parts.push(format!("formats: {}", formats.join(", ")));
    parts.push(format!("up to {} images at once", model.max_n));
    format!("{} takes {}.", model.id, parts.join("; "))
}

/// Why `model` cannot take `source` as the image of an edit (`variation = false`) or a
/// variation, if it cannot: its format, shape or size against the model's input rules.
pub(crate) fn source_refusal(
    model: &ModelSpec,
    variation: bool,
    format: OutputFormat,
    dimensions: Dimensions,
    len: u64,
) -> Option<String> {
    let (formats, square, max_bytes) = match (&model.edits, variation) {
        (_, true) if !model.variations => return Some(format!("{} makes no variations", model.id)),
        (None, false) => return Some(format!("{} makes no edits", model.id)),
        (Some(caps), false) => (
            caps.input_formats.clone(),
            caps.square_only,
            caps.max_image_bytes,
        ),
        // Variations take a square PNG, within the model's upload limit (4 MB for DALL·E 2).
        (caps, true) => (
            vec![OutputFormat::Png],
            true,
            caps.as_ref().map_or(4 * 1024 * 1024, |c| c.max_image_bytes),
        ),
    };
    if !formats.contains(&format) {
        let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
        return Some(format!(
            "{} takes {} input, and this image is {}",
            model.id,
            names.join(", "),
            format.as_str()
        ));
    }
    if square && dimensions.width != dimensions.height {
        return Some(format!(
            "{} takes square images only, and this one is {dimensions}",
            model.id
        ));
    }
    (len > max_bytes).then(|| {
        format!(
            "{} takes images up to {:.1} MB, and this one is {:.1} MB",
            model.id,
            mb(max_bytes),
            mb(len)
        )
    })
}

/// Bytes in megabytes, for a sentence (the precision lost does not show at one decimal).
fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::Catalog;

    use super::*;

    #[test]
    fn custom_edges_follow_the_free_size_rule_and_admit_their_own_minimum() {
        let catalog = Catalog::shipped();
        let free = catalog.get("gpt-image-2").expect("in the catalogue");
        let fixed = catalog.get("dall-e-2").expect("in the catalogue");

        let edges = CustomEdges::of(free).expect("free sizes");

        assert_eq!((edges.max, edges.step), (3840, 16));
        let smallest = Dimensions::new(edges.min, edges.min * edges.max_ratio);
        assert!(free.sizes.check(smallest).is_ok(), "{smallest}");
        let below = Dimensions::new(edges.min - edges.step, (edges.min - edges.step) * 3);
        assert!(free.sizes.check(below).is_err(), "{below}");
        assert!(CustomEdges::of(fixed).is_none());
        assert!(size_refusal(fixed, "custom").is_some());
        assert!(edges.refuse_edge("width", 4000).is_some());
        assert!(
            edges.refuse_edge("width", 1000).is_some(),
            "not a multiple of 16"
        );
        assert!(edges.refuse_edge("width", 1024).is_none());
    }

    #[test]
    fn a_variation_source_must_be_a_square_png_within_the_limit() {
        let catalog = Catalog::shipped();
        let dalle2 = catalog.get("dall-e-2").expect("in the catalogue");
        let gpt = catalog.get("gpt-image-2").expect("in the catalogue");
        let square = Dimensions::new(1024, 1024);

        let fits = source_refusal(dalle2, true, OutputFormat::Png, square, 1000);
        let wide = source_refusal(
            dalle2,
            true,
            OutputFormat::Png,
            Dimensions::new(1536, 1024),
            1,
        );
        let webp = source_refusal(dalle2, true, OutputFormat::Webp, square, 1);
        let heavy = source_refusal(dalle2, true, OutputFormat::Png, square, 5 << 20);
        let none = source_refusal(gpt, true, OutputFormat::Png, square, 1);
        let edit = source_refusal(
            gpt,
            false,
            OutputFormat::Webp,
            Dimensions::new(1536, 1024),
            1,
        );

        assert_eq!(fits, None);
        assert!(wide.is_some_and(|w| w.contains("square")));
        assert!(webp.is_some_and(|w| w.contains("webp")));
        assert!(heavy.is_some_and(|w| w.contains("MB")));
        assert!(none.is_some_and(|w| w.contains("no variations")));
        assert_eq!(edit, None, "gpt-image-2 edits any shape of webp");
    }
}
