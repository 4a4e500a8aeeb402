//! The UI's pages, rendered on the server (maud escapes every interpolated value).

use artgen_core::domain::{
    Background, Dimensions, ModelSpec, OutputFormat, Quality, UsageRecord, UsageStatus,
};
use artgen_core::ports::ImageMeta;
use maud::{html, Markup, DOCTYPE};

use super::assets::{CSS, JS};
use super::controls::{self, CustomEdges};
use super::toast::{dollars, readable_utc, USAGE_POLICY};

/// An orientation the size control offers, mapped to each model's real sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 1:1.
    Square,
    /// Taller than wide.
    Portrait,
    /// Wider than tall.
    Landscape,
}

impl Shape {
    /// Every shape, in the order the control lists them.
    pub const ALL: [Shape; 3] = [Self::Square, Self::Portrait, Self::Landscape];

    /// The form value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Square => "square",
            Self::Portrait => "portrait",
            Self::Landscape => "landscape",
        }
    }

    /// The shape with this form value.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The size of this shape `model` draws, largest-first among the sizes the OpenAI models
    /// use; `None` when the model draws no such shape.
    pub fn size_for(self, model: &ModelSpec) -> Option<Dimensions> {
        let candidates: &[(u32, u32)] = match self {
            Self::Square => &[(1024, 1024), (512, 512), (256, 256)],
            Self::Portrait => &[(1024, 1536), (1024, 1792)],
            Self::Landscape => &[(1536, 1024), (1792, 1024)],
        };
        candidates
            .iter()
            .map(|&(w, h)| Dimensions::new(w, h))
            .find(|size| model.sizes.check(*size).is_ok())
    }
}

/// A model the prompt page offers.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    /// The id requests name.
    pub id: String,
    /// Its spec.
    pub spec: std::sync::Arc<ModelSpec>,
    /// Shown beside the name (e.g. near retirement).
    pub note: Option<String>,
}

/// One gallery entry.
#[derive(Debug, Clone)]
pub struct GalleryItem {
    /// The image's row.
    pub meta: ImageMeta,
    /// A signed link to its bytes.
    pub url: String,
}

/// What the prompt page shows.
#[derive(Debug, Clone, Default)]
pub struct Home {
    /// The signed-in user.
    pub user: String,
    /// Whether they are an admin (the page links the dashboard).
    pub is_admin: bool,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The models offered.
    pub models: Vec<ModelChoice>,
    /// The model preselected.
    pub selected_model: String,
    /// The prompt to show again (after an error).
    pub prompt: String,
    /// An error to announce.
    pub error: Option<String>,
    /// A link that helps with the error (e.g. the usage policy after a moderation block).
    pub error_link: Option<(String, String)>,
    /// A notice to announce (e.g. the cost of what was just made).
    pub notice: Option<String>,
    /// The newest images.
    pub gallery: Vec<GalleryItem>,
    /// The gallery's next page, if any.
    pub next_cursor: Option<String>,
    /// The advanced controls as last posted (after an error), so nothing is lost.
    pub choices: Choices,
}

/// The advanced controls' values as posted; empty for the defaults.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// `square`, `portrait`, `landscape` or `custom`.
    pub size: String,
    /// The custom width typed.
    pub width: String,
    /// The custom height typed.
    pub height: String,
    /// The quality chosen.
    pub quality: String,
    /// The background chosen.
    pub background: String,
    /// The format chosen.
    pub format: String,
    /// How many images.
    pub n: String,
}

/// A model an edit or a variation of one image may use, and why it cannot, if it cannot.
#[derive(Debug, Clone)]
pub struct DeriveModel {
    /// The model id.
    pub id: String,
    /// Why this image cannot be its input (format, shape, size), if it cannot.
    pub refusal: Option<String>,
}

/// The edit or variation form of the large view.
#[derive(Debug, Clone, Default)]
pub struct DeriveForm {
    /// The models that perform the operation.
    pub models: Vec<DeriveModel>,
    /// The most images one request of these models may ask for.
    pub max_n: u8,
    /// The model preselected when it can take the image (the image's own).
    pub preferred: String,
}

impl DeriveForm {
    fn usable(&self) -> bool {
        self.models.iter().any(|m| m.refusal.is_none())
    }
}

/// What the large view of one image shows.
#[derive(Debug, Clone)]
pub struct ImageView {
    /// The signed-in user.
    pub user: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The image.
    pub item: GalleryItem,
    /// The usage row of the request that made it (its cost), when the store has it.
    pub usage: Option<UsageRecord>,
    /// The edit form, where the image's model makes edits.
    pub edit: Option<DeriveForm>,
    /// The variation form, where the image's model makes variations.
    pub variation: Option<DeriveForm>,
    /// The edit prompt to show again (after an error).
    pub edit_prompt: String,
    /// An error to announce.
    pub error: Option<String>,
    /// A link that helps with the error.
    pub error_link: Option<(String, String)>,
}

pub(crate) fn layout(title: &str, user: Option<(&str, &str)>, body: Markup) -> Markup {
    document(title, user, None, body)
}

/// A page that moves on to `to` by itself (a meta refresh), e.g. after a sign-in.
pub(crate) fn moving_on(title: &str, to: &str, body: Markup) -> Markup {
    document(title, None, Some(to), body)
}

fn document(
    title: &str,
    user: Option<(&str, &str)>,
    refresh: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(to) = refresh { meta http-equiv="refresh" content={ "0; url=" (to) }; }
                title { (title) " · ArtGen" }
                link rel="stylesheet" href={ "/ui/assets/" (CSS.name) };
                script src={ "/ui/assets/" (JS.name) } defer {}
            }
            body {
                header.top {
                    h1 { "ArtGen" }
                    @if let Some((user, csrf)) = user {
                        nav aria-label="Account" {
                            span { "Signed in as " strong { (user) } }
                            form #sign-out method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button #sign-out-submit .secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in page; with `sso` (the IdP's name), a "Sign in with …" link too.
pub fn sign_in(error: Option<&str>, sso: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.panel.sign-in aria-labelledby="sign-in-title" {
                h2 #sign-in-title { "Sign in" }
                @if let Some(error) = error {
                    p #error .error role="alert" { (error) }
                }
                form #sign-in method="post" action="/sign-in" {
                    label for="api-key" { "API key" }
                    input #api-key type="password" name="api_key" required
                        autocomplete="off" spellcheck="false" aria-describedby="api-key-hint";
                    p #api-key-hint .hint {
                        "Your ArtGen key (ag_live_… or ag_test_…). It is checked once and "
                        "never stored in this browser; the session lasts 8 hours."
                    }
                    div.actions {
                        button #sign-in-submit type="submit" { "Sign in" }
                    }
                }
                @if let Some(name) = sso {
                    div.actions {
                        a #sso-sign-in .button.secondary href="/sign-in/sso" { "Sign in with " (name) }
                    }
                }
            }
        },
    )
}

/// The shapes `model` draws, space-separated (for the script that disables the others).
fn shapes(model: &ModelSpec) -> String {
    Shape::ALL
        .into_iter()
        .filter(|s| s.size_for(model).is_some())
        .map(Shape::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Values space-separated, as the script reads them.
fn joined<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The qualities `model` takes, space-separated.
fn qualities_of(model: &ModelSpec) -> String {
    model
        .qualities
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `#error` toast: announced by screen readers (`role="alert"`), with a link that
/// helps where there is one. The script fills the same element for refusals it meets.
fn toast(error: Option<&str>, link: Option<&(String, String)>) -> Markup {
    html! {
        @if let Some(error) = error {
            div #error .error.toast role="alert" {
                p.toast-text { (error) }
                @if let Some((href, text)) = link {
                    p { a.toast-link href=(href) rel="noopener" { (text) } }
                }
            }
        }
    }
}

/// One option of a control: its value and label, disabled with the reason as its title
/// when the selected model refuses it.
fn choice(value: &str, label: &str, chosen: &str, refusal: Option<String>) -> Markup {
    html! {
        option value=(value) selected[chosen == value && refusal.is_none()]
            disabled[refusal.is_some()] title=[refusal.as_deref()] { (label) }
    }
}

/// The advanced controls, with what the selected model refuses disabled and said why.
fn advanced(page: &Home, model: Option<&ModelSpec>) -> Markup {
    let c = &page.choices;
    let mut qualities: Vec<Quality> = Vec::new();
    for choice in &page.models {
        for q in &choice.spec.qualities {
            if !qualities.contains(q) {
                qualities.push(*q);
            }
        }
    }
    let refuse = |f: &dyn Fn(&ModelSpec) -> Option<String>| model.and_then(f);
    let edges = model.and_then(CustomEdges::of);
    let custom_off = edges.is_none();
    let max_n = model.map_or(1, |m| m.max_n);
    let n = if c.n.is_empty() { "1" } else { c.n.as_str() };
    html! {
        div.row {
            div {
                label for="size" { "Size" }
                select #size name="size" {
                    @for shape in Shape::ALL {
                        (choice(shape.as_str(), shape.as_str(), &c.size,
                            refuse(&|m| controls::size_refusal(m, shape.as_str()))))
                    }
                    (choice("custom", "custom", &c.size, refuse(&|m| controls::size_refusal(m, "custom"))))
                }
            }
            div {
                label for="quality" { "Quality" }
                select #quality name="quality" {
                    option value="" selected[c.quality.is_empty()] { "model default" }
                    @for q in &qualities {
                        (choice(&q.to_string(), &q.to_string(), &c.quality,
                            refuse(&|m| controls::quality_refusal(m, *q))))
                    }
                }
            }
        }
        fieldset #custom-size {
            legend { "Custom size (pixels)" }
            div.row {
                div {
                    label for="width" { "Width" }
                    input #width type="number" name="width" inputmode="numeric"
                        min=[edges.map(|e| e.min)] max=[edges.map(|e| e.max)]
                        step=[edges.map(|e| e.step)] value=(c.width)
                        disabled[custom_off] aria-describedby="custom-size-hint";
                }
                div {
                    label for="height" { "Height" }
                    input #height type="number" name="height" inputmode="numeric"
                        min=[edges.map(|e| e.min)] max=[edges.map(|e| e.max)]
                        step=[edges.map(|e| e.step)] value=(c.height)
                        disabled[custom_off] aria-describedby="custom-size-hint";
                }
            }
            p #custom-size-hint .hint { (model.map(controls::custom_hint).unwrap_or_default()) }
        }
        div.row {
            div {
                label for="background" { "Background" }
                select #background name="background" {
                    option value="" selected[c.background.is_empty()] { "model default" }
                    @for b in [Background::Opaque, Background::Transparent] {
                        (choice(&b.to_string(), &b.to_string(), &c.background,
                            refuse(&|m| controls::background_refusal(m, b))))
                    }
                }
            }
            div {
                label for="format" { "Format" }
                select #format name="format" {
                    option value="" selected[c.format.is_empty()] { "model default" }
                    @for f in [OutputFormat::Png, OutputFormat::Webp, OutputFormat::Jpeg] {
                        (choice(f.as_str(), f.as_str(), &c.format,
                            refuse(&|m| controls::format_refusal(m, f))))
                    }
                }
            }
        }
        label for="n" { "Images" }
        input #n type="number" name="n" min="1" max=(max_n) value=(n)
            aria-describedby="limits";
        p #limits .hint { (model.map(controls::limits).unwrap_or_default()) }
    }
}

/// The prompt page: the form on the left, the gallery on the right (stacked on phones).
pub fn home(page: &Home) -> Markup {
    let selected = page
        .models
        .iter()
        .find(|m| m.id == page.selected_model)
        .or_else(|| page.models.first());
    let max_prompt = selected.map_or(0, |m| m.spec.max_prompt_chars);
    layout(
        "Generate",
        Some((&page.user, &page.csrf)),
        html! {
            @if page.is_admin { p { a #admin-link href="/ui/admin" { "Admin dashboard" } } }
            div #status .visually-hidden role="status" aria-live="polite" {
                @if let Some(notice) = &page.notice { (notice) }
            }
            div.layout {
                section.panel aria-labelledby="generate-title" {
                    h2 #generate-title { "Generate" }
                    (toast(page.error.as_deref(), page.error_link.as_ref()))
                    @if let Some(notice) = &page.notice {
                        p #notice .notice { (notice) }
                    }
                    form #generate method="post" action="/ui/generate" data-usage-policy=(USAGE_POLICY) {
                        input type="hidden" name="csrf" value=(page.csrf);
                        label for="prompt" { "Prompt" }
                        textarea #prompt name="prompt" required
                            maxlength=(max_prompt) aria-describedby="prompt-count" { (page.prompt) }
                        p #prompt-count .hint aria-live="polite" {
                            "Up to " (max_prompt) " characters for this model."
                        }
                        label for="model" { "Model" }
                        select #model name="model" {
                            @for model in &page.models {
                                option value=(model.id) data-max-prompt=(model.spec.max_prompt_chars)
                                    data-max-n=(model.spec.max_n)
                                    data-shapes=(shapes(&model.spec))
                                    data-qualities=(qualities_of(&model.spec))
                                    data-backgrounds=(joined(&model.spec.backgrounds))
                                    data-formats=(joined(&model.spec.output_formats))
                                    data-streams=(u8::from(model.spec.streaming))
                                    data-custom=(controls::custom_data(&model.spec))
                                    data-custom-hint=(controls::custom_hint(&model.spec))
                                    data-limits=(controls::limits(&model.spec))
                                    selected[Some(model.id.as_str()) == selected.map(|m| m.id.as_str())] {
                                    (model.id)
                                    @if let Some(note) = &model.note { " (" (note) ")" }
                                }
                            }
                        }
                        details open[!page.choices.size.is_empty()] {
                            summary { "Advanced" }
                            (advanced(page, selected.map(|m| m.spec.as_ref())))
                        }
                        p #estimate .hint aria-live="polite" {}
                        img #preview hidden alt="The image as it is being drawn";
                        div.actions {
                            button #generate-submit type="submit" { "Generate" }
                        }
                    }
                }
                section.panel aria-labelledby="gallery-title" {
                    h2 #gallery-title { "Your images" }
                    @if page.gallery.is_empty() {
                        p.hint { "Nothing yet: your images appear here, newest first." }
                    }
                    ul #gallery {
                        @for item in &page.gallery {
                            li { (figure(item)) }
                        }
                    }
                    @if let Some(cursor) = &page.next_cursor {
                        p { a.button.secondary href={ "/?cursor=" (cursor) } { "Older images" } }
                    }
                }
            }
        },
    )
}

/// What the request that made an image cost, as the large view says it.
fn cost_text(usage: Option<&UsageRecord>) -> String {
    let Some(row) = usage else {
        return "not recorded".to_owned();
    };
    if row.unpriced {
        return "unknown (the model has no price)".to_owned();
    }
    let amount = dollars(row.cost);
    let settled = match row.status {
        UsageStatus::Succeeded | UsageStatus::Failed => amount,
        UsageStatus::Started | UsageStatus::Unknown => format!("{amount} (estimated)"),
    };
    if row.images > 1 {
        format!("{settled} for the {} images of its request", row.images)
    } else {
        settled
    }
}

/// One image large, with what it was made with, what it cost, and what can be made from it.
pub fn image(view: &ImageView) -> Markup {
    let item = &view.item;
    let meta = &item.meta;
    let file = format!("artgen-{}.{}", meta.id, meta.format.as_str());
    let created = artgen_core::domain::budget::rfc3339_utc(meta.created_at_ms);
    let quality = view
        .usage
        .as_ref()
        .map(|u| u.quality.as_str())
        .filter(|q| !q.is_empty());
    layout(
        "Image",
        Some((&view.user, &view.csrf)),
        html! {
            p { a href="/" { "← Back to Generate" } }
            section.panel aria-labelledby="image-title" {
                h2 #image-title { "Image" }
                (toast(view.error.as_deref(), view.error_link.as_ref()))
                img #large src=(item.url) alt=(meta.prompt) width=(meta.dimensions.width)
                    height=(meta.dimensions.height);
                dl #params {
                    dt { "Prompt" } dd #param-prompt { (meta.prompt) }
                    dt { "Model" } dd #param-model { (meta.model) }
                    dt { "Size" } dd #param-size { (meta.dimensions) }
                    @if let Some(quality) = quality {
                        dt { "Quality" } dd #param-quality { (quality) }
                    }
                    dt { "Format" } dd #param-format { (meta.format.as_str()) }
                    dt { "Created" } dd #param-created {
                        time datetime=(created) { (readable_utc(meta.created_at_ms)) }
                    }
                    dt { "Cost" } dd #cost { (cost_text(view.usage.as_ref())) }
                }
                p.links {
                    a.download.button href=(item.url) download=(file) { "Download" }
                    " "
                    a.copy-url.button.secondary href=(item.url) data-url=(item.url) { "Copy URL" }
                }
            }
            @if let Some(edit) = &view.edit {
                (edit_form(view, edit))
            }
            @if let Some(variation) = &view.variation {
                (variation_form(view, variation))
            }
        },
    )
}

/// A model select of a derive form: models this image cannot feed are disabled with why.
fn derive_models(id: &str, form: &DeriveForm) -> Markup {
    let usable = |m: &DeriveModel| m.refusal.is_none();
    let first_usable = form
        .models
        .iter()
        .position(|m| usable(m) && m.id == form.preferred)
        .or_else(|| form.models.iter().position(usable));
    html! {
        select id=(id) name="model" {
            @for (i, model) in form.models.iter().enumerate() {
                option value=(model.id) selected[Some(i) == first_usable]
                    disabled[model.refusal.is_some()] title=[model.refusal.as_deref()] {
                    (model.id)
                    @if let Some(why) = &model.refusal { " (" (why) ")" }
                }
            }
        }
    }
}

/// Why a derive form is off, when no model can take this image.
fn derive_refusal(id: &str, form: &DeriveForm) -> Markup {
    let reasons: Vec<&str> = form
        .models
        .iter()
        .filter_map(|m| m.refusal.as_deref())
        .collect();
    html! {
        @if !form.usable() {
            p.hint id=(id) {
                "This image cannot be used here: " (reasons.join("; ")) "."
            }
        }
    }
}

fn edit_form(view: &ImageView, form: &DeriveForm) -> Markup {
    let off = !form.usable();
    html! {
        section.panel aria-labelledby="edit-title" {
            h2 #edit-title { "Use as edit source" }
            form #edit-form method="post" action="/ui/edit" {
                input type="hidden" name="csrf" value=(view.csrf);
                input type="hidden" name="image" value=(view.item.meta.id);
                label for="edit-prompt" { "What to change" }
                textarea #edit-prompt name="prompt" required { (view.edit_prompt) }
                label for="edit-model" { "Model" }
                (derive_models("edit-model", form))
                (derive_refusal("edit-refusal", form))
                div.actions {
                    button #edit-submit type="submit" disabled[off]
                        aria-describedby=[off.then_some("edit-refusal")] { "Edit this image" }
                }
            }
        }
    }
}

fn variation_form(view: &ImageView, form: &DeriveForm) -> Markup {
    let off = !form.usable();
    html! {
        section.panel aria-labelledby="variation-title" {
            h2 #variation-title { "Variations" }
            form #variation-form method="post" action="/ui/variation" {
                input type="hidden" name="csrf" value=(view.csrf);
                input type="hidden" name="image" value=(view.item.meta.id);
                label for="variation-n" { "How many" }
                input #variation-n type="number" name="n" min="1" max=(form.max_n) value="1";
                label for="variation-model" { "Model" }
                (derive_models("variation-model", form))
                (derive_refusal("variation-refusal", form))
                div.actions {
                    button #variation-submit type="submit" disabled[off]
                        aria-describedby=[off.then_some("variation-refusal")] { "Make variations" }
                }
            }
        }
    }
}

fn figure(item: &GalleryItem) -> Markup {
    let meta = &item.meta;
    let file = format!("artgen-{}.{}", meta.id, meta.format.as_str());
    html! {
        figure.image data-id=(meta.id) {
            a.view href={ "/ui/images/" (meta.id) } aria-label={ "View larger: " (meta.prompt) } {
                img src=(item.url) alt=(meta.prompt) width=(meta.dimensions.width)
                    height=(meta.dimensions.height) loading="lazy";
            }
            figcaption {
                span.meta { (meta.model) " · " (meta.dimensions) }
                span.links {
                    a.download href=(item.url) download=(file) { "Download" }
                    a.copy-url href=(item.url) data-url=(item.url) { "Copy URL" }
                }
            }
        }
    }
}
