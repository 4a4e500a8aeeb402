//! The large view of one image, and what it makes: `POST /ui/edit` (a prompt) and
//! `POST /ui/variation` (a count) run an edit or a variation with the stored image as the
//! input. The image is read through the service, owner-checked (admins, who may view any
//! image, make nothing from others'), so an id of someone else's image is a 404 like an id of
//! none; a model that cannot take it (format, shape, size) is
//! refused before any call, with the reason. Results land in the gallery like generations,
//! and refusals are the same toasts as the prompt page's.

use artgen_core::domain::{
    EditParams, GenerateParams, JobParams, ModelSpec, RequestId, UploadedImage, VariationParams,
};
use artgen_core::ports::ImageMeta;
use artgen_core::{ErrorCode, RequestContext};
use axum::extract::{rejection::FormRejection, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::pages::{self, DeriveForm, DeriveModel, GalleryItem, ImageView};
use super::session::Session;
use super::toast::{self, Toast};
use super::{controls, html, models, posting, Ui};
use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;

/// What the large view announces after a refused edit or variation.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// The refusal.
    pub(super) toast: Option<Toast>,
    /// The edit prompt, kept for revision.
    pub(super) edit_prompt: String,
}

/// The edit (`variation = false`) or variation form of `meta`, where the catalogue says its
/// model performs that operation; each model that does is offered, disabled with the reason
/// where it cannot take this image.
fn derive_form(state: &AppState, meta: &ImageMeta, variation: bool) -> Option<DeriveForm> {
    let performs = |m: &ModelSpec| {
        if variation {
            m.variations
        } else {
            m.edits.is_some()
        }
    };
    let source = state.service().catalog().get(&meta.model)?;
    if !performs(source) {
        return None;
    }
    let offered: Vec<_> = models(state)
        .into_iter()
        .filter(|m| performs(&m.spec))
        .collect();
    if offered.is_empty() {
        return None;
    }
    let max_n = offered.iter().map(|m| m.spec.max_n).max().unwrap_or(1);
    let models = offered
        .into_iter()
        .map(|m| DeriveModel {
            refusal: controls::source_refusal(
                &m.spec,
                variation,
                meta.format,
                meta.dimensions,
                meta.len,
            ),
            id: m.id,
        })
        .collect();
    Some(DeriveForm {
        models,
        max_n,
        preferred: source.id.clone(),
    })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such image").into_response()
}

/// The large view of image `id` for `session`, announcing `outcome`'s refusal if any.
pub(super) async fn show(
    state: &AppState,
    ui: &Ui,
    session: &Session,
    base: &BaseUrl,
    id: &str,
    outcome: Outcome,
) -> Response {
    let details = match state
        .service()
        .image_details(&session.principal(), id)
        .await
    {
        Ok(details) => details,
        Err(err) if err.code() == ErrorCode::NotFound => return not_found(),
        Err(err) => {
            tracing::error!(error = %err, "an image's details could not be read");
            let status = crate::error::status_code(err.kind());
            return (status, "the image cannot be shown right now").into_response();
        }
    };
    let meta = details.meta;
    let status = outcome.toast.as_ref().map_or(StatusCode::OK, |t| t.status);
    let (error, error_link) = match outcome.toast {
        Some(toast) => (Some(toast.message), toast.link),
        None => (None, None),
    };
    let own = meta.owner == session.user;
    let view = ImageView {
        user: session.user.clone(),
        csrf: ui.key.csrf(session),
        edit: derive_form(state, &meta, false).filter(|_| own),
        variation: derive_form(state, &meta, true).filter(|_| own),
        item: GalleryItem {
            url: signed_url(state, base, meta.id.as_str()),
            meta,
        },
        usage: details.usage,
        edit_prompt: outcome.edit_prompt,
        error,
        error_link,
    };
    html(status, pages::image(&view))
}

/// The edit and variation forms as posted.
#[derive(Debug, Deserialize, Default)]
pub(super) struct DeriveRequest {
    #[serde(default)]
    csrf: String,
    /// The stored image's id.
    #[serde(default)]
    image: String,
    #[serde(default)]
    model: String,
    /// The edit's prompt.
    #[serde(default)]
    prompt: String,
    /// How many variations.
    #[serde(default)]
    n: String,
}

fn refused(message: String) -> Toast {
    Toast {
        status: StatusCode::BAD_REQUEST,
        message,
        link: None,
    }
}

/// Builds the job: the stored image (owner-checked) as the input of `form.model`.
async fn job(
    state: &AppState,
    session: &Session,
    form: &DeriveRequest,
    variation: bool,
) -> Result<JobParams, Option<Toast>> {
    let catalog = state.service().catalog();
    let (meta, bytes) = match state
        .service()
        .image(&session.principal(), &form.image)
        .await
    {
        // Only the owner's own images feed their requests: an admin, who may view anyone's,
        // does not make images from them.
        Ok(found) if found.0.owner == session.user => found,
        Ok(_) => return Err(None),
        Err(err) if err.code() == ErrorCode::NotFound => return Err(None),
        Err(err) => return Err(Some(toast::of(&err))),
    };
    let model = catalog
        .get(&form.model)
        .ok_or_else(|| Some(refused("Choose a model from the list.".to_owned())))?;
    if let Some(why) =
        controls::source_refusal(model, variation, meta.format, meta.dimensions, meta.len)
    {
        return Err(Some(refused(format!("This image cannot be used: {why}."))));
    }
    let file = format!("{}.{}", meta.id, meta.format.as_str());
    // The model's own upload limit was checked above; this checks the stored bytes are an
    // image ArtGen can send.
    let image = UploadedImage::inspect("image", Some(&file), None, bytes, meta.len)
        .map_err(|err| Some(toast::of(&err)))?;
    if variation {
        let n = match form.n.trim() {
            "" => None,
            text => Some(text.parse::<u32>().map_err(|_| {
                Some(refused(format!(
                    "“{}” is not a number of variations.",
                    text.chars().take(20).collect::<String>()
                )))
            })?),
        };
        Ok(JobParams::Variation(VariationParams {
            model: Some(form.model.clone()),
            n,
            image: Some(image),
            ..VariationParams::default()
        }))
    } else {
        Ok(JobParams::Edit(EditParams {
            options: GenerateParams {
                model: form.model.clone(),
                prompt: form.prompt.clone(),
                ..GenerateParams::default()
            },
            images: vec![image],
            ..EditParams::default()
        }))
    }
}

/// Runs an edit or a variation of the posted image; the answer is the prompt page announcing
/// it, or the large view again with the refusal.
async fn derive(
    state: AppState,
    ui: Ui,
    base: BaseUrl,
    request_id: RequestId,
    headers: HeaderMap,
    form: Result<Form<DeriveRequest>, FormRejection>,
    variation: bool,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let session = match posting(&ui, &state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    let outcome = |toast: Toast| Outcome {
        toast: Some(toast),
        edit_prompt: form.prompt.clone(),
    };
    let params = match job(&state, &session, &form, variation).await {
        Ok(params) => params,
        Err(None) => return not_found(),
        Err(Some(toast)) => {
            return show(&state, &ui, &session, &base, &form.image, outcome(toast)).await
        }
    };
    let ctx = RequestContext::new(request_id, session.principal());
    match state.service().execute(&ctx, params).await {
        Ok(generation) => super::made(&generation),
        Err(err) => {
            let toast = toast::of(&err);
            show(&state, &ui, &session, &base, &form.image, outcome(toast)).await
        }
    }
}

/// `POST /ui/edit` (`csrf`, `image`, `prompt`, `model`): an edit of one of the user's images.
pub(super) async fn edit(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    form: Result<Form<DeriveRequest>, FormRejection>,
) -> Response {
    derive(state, ui, base, request_id, headers, form, false).await
}

/// `POST /ui/variation` (`csrf`, `image`, `n`, `model`): variations of one of the user's
/// images.
pub(super) async fn variation(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    form: Result<Form<DeriveRequest>, FormRejection>,
) -> Response {
    derive(state, ui, base, request_id, headers, form, true).await
}
