//! `GET /v1/models` and `GET /v1/models/{id}`: the image models this server serves, in
//! OpenAI's list shape, so SDKs and tools that discover models (`client.models.list()`) are
//! offered exactly those a request can succeed with.
//!
//! A model is listed when the catalogue serves it today ([`Catalog::serves`]: a known price,
//! or unpriced models served; not refused as retired), and each alias is listed as its own
//! entry when the model it leads to is. Models outside the catalogue, which `catalog.unpriced =
//! "serve"` lets requests name, are neither listed nor found: there is no list of them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use artgen_core::domain::{Catalog, Date, ModelSpec, RequestId};
use artgen_core::{Error, ErrorCode};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::echo;
use crate::openapi::{ModelErrors, ReadErrors};
use crate::state::AppState;

/// Routes of this resource (the router puts them behind authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(list))
        .route("/v1/models/{id}", get(retrieve))
        .layer(Extension(Listing::new()))
}

/// OpenAI's `Model` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelObject {
    /// The model id or alias, as requests name it.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Unix seconds: the date a dated snapshot's id names (`gpt-image-2-2026-04-21`), else
    /// when this server started (ArtGen knows no release dates).
    pub created: u64,
    /// `openai` for the models ArtGen ships, `artgen` for those the operator added; an alias
    /// has its model's owner.
    pub owned_by: String,
}

/// OpenAI's list of models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models and aliases a request can succeed with today, by id.
    pub data: Vec<ModelObject>,
}

/// What the listing needs besides the catalogue: when the server started, and which ids the
/// shipped catalogue has (to tell OpenAI's models from the operator's).
#[derive(Debug, Clone)]
struct Listing {
    started: u64,
    shipped: Arc<BTreeSet<String>>,
}

impl Listing {
    fn new() -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let shipped = Catalog::shipped().models().map(|m| m.id.clone()).collect();
        Self {
            started,
            shipped: Arc::new(shipped),
        }
    }

    /// The entry for `name` (a model id or an alias) leading to `model`.
    fn object(&self, name: &str, model: &ModelSpec) -> ModelObject {
        let owner = if self.shipped.contains(&model.id) {
            "openai"
        } else {
            "artgen"
        };
        ModelObject {
            id: name.to_owned(),
            object: "model".to_owned(),
            created: snapshot_date(&model.id)
                .and_then(|d| u64::try_from(d.days_since_epoch() * 86_400).ok())
                .unwrap_or(self.started),
            owned_by: owner.to_owned(),
        }
    }
}

/// The date a dated snapshot's id ends with (`…-YYYY-MM-DD`).
fn snapshot_date(id: &str) -> Option<Date> {
    let split = id.len().checked_sub(10)?;
    let (rest, date) = (id.get(..split)?, id.get(split..)?);
    rest.ends_with('-').then(|| Date::parse(date)).flatten()
}

/// Every model id and alias with the model it leads to, if the catalogue serves it today.
fn served(catalog: &Catalog, today: Date) -> Vec<(&str, &ModelSpec)> {
    let names: BTreeSet<&str> = catalog
        .models()
        .map(|m| m.id.as_str())
        .chain(catalog.aliases().map(|(alias, _)| alias))
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let model = catalog.get(name)?;
            catalog
                .serves(model, today)
                .then_some((name, model.as_ref()))
        })
        .collect()
}

fn today(state: &AppState) -> Date {
    let now = state.service().clock().now_secs();
    Date::from_unix_secs(i64::try_from(now).unwrap_or(i64::MAX))
}

/// List the models this server serves (OpenAI-compatible).
///
/// The image models and aliases a request can succeed with today: priced (or unpriced models
/// are served) and not refused as retired.
#[utoipa::path(
    get,
    path = "/v1/models",
    operation_id = "list_models",
    tag = "openai",
    responses((status = 200, description = "The models.", body = ModelList), ReadErrors),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Extension(listing): Extension<Listing>,
) -> Json<ModelList> {
    let catalog = state.service().catalog();
    let data = served(catalog, today(&state))
        .into_iter()
        .map(|(name, model)| listing.object(name, model))
        .collect();
    Json(ModelList {
        object: "list".to_owned(),
        data,
    })
}

/// Retrieve one model this server serves (OpenAI-compatible).
///
/// A model id or alias that `GET /v1/models` lists; any other is 404 `model_not_found`.
#[utoipa::path(
    get,
    path = "/v1/models/{id}",
    operation_id = "retrieve_model",
    tag = "openai",
    params(("id" = String, Path, description = "A model id or alias.")),
    responses((status = 200, description = "The model.", body = ModelObject), ModelErrors),
    security(("bearer" = [])),
)]
async fn retrieve(
    State(state): State<AppState>,
    Extension(listing): Extension<Listing>,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ModelObject>, ApiError> {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let catalog = state.service().catalog();
    let today = today(&state);
    match catalog.get(&id) {
        Some(model) if catalog.serves(model, today) => Ok(Json(listing.object(&id, model))),
        _ => {
            let err = Error::new(
                ErrorCode::ModelNotFound,
                format!(
                    "the model '{}' is not served here; GET /v1/models lists those that are",
                    echo(&id)
                ),
            )
            .with_param("model");
            Err(ApiError::new(err, Some(request_id)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use artgen_core::domain::{CatalogPolicy, RetiredModels};

    fn date(text: &str) -> Date {
        Date::parse(text).expect("a valid date")
    }

    fn names(catalog: &Catalog) -> Vec<&str> {
        served(catalog, date("2026-12-01"))
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn retired_models_are_listed_only_where_they_are_not_refused() {
        let warn = Catalog::shipped();
        let refuse = Catalog::shipped()
            .with_policy(CatalogPolicy::default().with_retired(RetiredModels::Refuse));

        assert!(names(&warn).contains(&"dall-e-2"));
        assert!(names(&warn).contains(&"gpt-image-1"));
        for retired in ["dall-e-2", "dall-e-3", "gpt-image-1"] {
            assert!(!names(&refuse).contains(&retired), "{retired}");
        }
        for listed in [&warn, &refuse] {
            assert!(names(listed).contains(&"gpt-image-2.5-flare"));
            assert!(!names(listed).contains(&"gpt-image-2.6-flare"), "unpriced");
        }
    }

    #[test]
    fn a_dated_snapshot_is_created_on_its_date() {
        assert_eq!(
            snapshot_date("gpt-image-2-2026-04-21"),
            Some(date("2026-04-21"))
        );
        assert_eq!(snapshot_date("gpt-image-2"), None);
        assert_eq!(snapshot_date("2026-04-21"), None);
        assert_eq!(snapshot_date("gpt-image-2.5-flare"), None);
    }
}
