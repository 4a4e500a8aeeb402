//! The UI's pages, rendered on the server (maud escapes every interpolated value).

use artgen_core::domain::{Dimensions, ModelSpec, Quality};
use artgen_core::ports::ImageMeta;
use maud::{html, Markup, DOCTYPE};

use super::assets::{CSS, JS};

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
}

pub(crate) fn layout(title: &str, user: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
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

fn quality_label(quality: Quality) -> String {
    quality.to_string()
}

/// The prompt page: the form on the left, the gallery on the right (stacked on phones).
pub fn home(page: &Home) -> Markup {
    let selected = page
        .models
        .iter()
        .find(|m| m.id == page.selected_model)
        .or_else(|| page.models.first());
    let max_prompt = selected.map_or(0, |m| m.spec.max_prompt_chars);
    let max_n = page.models.iter().map(|m| m.spec.max_n).max().unwrap_or(1);
    let mut qualities: Vec<Quality> = Vec::new();
    for model in &page.models {
        for q in &model.spec.qualities {
            if !qualities.contains(q) {
                qualities.push(*q);
            }
        }
    }
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
                    @if let Some(error) = &page.error {
                        p #error .error role="alert" {
                            (error)
                            @if let Some((href, text)) = &page.error_link {
                                " " a href=(href) rel="noopener" { (text) }
                            }
                        }
                    }
                    @if let Some(notice) = &page.notice {
                        p #notice .notice { (notice) }
                    }
                    form #generate method="post" action="/ui/generate" {
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
                                    selected[Some(model.id.as_str()) == selected.map(|m| m.id.as_str())] {
                                    (model.id)
                                    @if let Some(note) = &model.note { " (" (note) ")" }
                                }
                            }
                        }
                        details {
                            summary { "Advanced" }
                            div.row {
                                div {
                                    label for="size" { "Size" }
                                    select #size name="size" {
                                        @for shape in Shape::ALL {
                                            option value=(shape.as_str()) { (shape.as_str()) }
                                        }
                                    }
                                }
                                div {
                                    label for="quality" { "Quality" }
                                    select #quality name="quality" {
                                        option value="" selected { "model default" }
                                        @for q in &qualities {
                                            option value=(q.to_string()) { (quality_label(*q)) }
                                        }
                                    }
                                }
                            }
                            div.row {
                                div {
                                    label for="background" { "Background" }
                                    select #background name="background" {
                                        option value="" selected { "model default" }
                                        @for b in ["opaque", "transparent"] {
                                            option value=(b) { (b) }
                                        }
                                    }
                                }
                                div {
                                    label for="format" { "Format" }
                                    select #format name="format" {
                                        option value="" selected { "model default" }
                                        @for f in ["png", "webp", "jpeg"] {
                                            option value=(f) { (f) }
                                        }
                                    }
                                }
                            }
                            label for="n" { "Images" }
                            input #n type="number" name="n" min="1" max=(max_n) value="1";
                            p.hint { "Up to " (max_n) " at once, as the model allows." }
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

/// One image large, with what it was made with.
pub fn image(user: &str, csrf: &str, item: &GalleryItem) -> Markup {
    let meta = &item.meta;
    let file = format!("artgen-{}.{}", meta.id, meta.format.as_str());
    let created = meta.created_at_ms / 1000;
    layout(
        "Image",
        Some((user, csrf)),
        html! {
            p { a href="/" { "← Back to Generate" } }
            section.panel aria-labelledby="image-title" {
                h2 #image-title { "Image" }
                img #large src=(item.url) alt=(meta.prompt) width=(meta.dimensions.width)
                    height=(meta.dimensions.height);
                dl #params {
                    dt { "Prompt" } dd { (meta.prompt) }
                    dt { "Model" } dd { (meta.model) }
                    dt { "Size" } dd { (meta.dimensions) }
                    dt { "Format" } dd { (meta.format.as_str()) }
                    dt { "Created" } dd { time datetime=(created) { "Unix " (created) } }
                }
                p.links {
                    a.download.button href=(item.url) download=(file) { "Download" }
                    " "
                    a.copy-url.button.secondary href=(item.url) data-url=(item.url) { "Copy URL" }
                }
            }
        },
    )
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
