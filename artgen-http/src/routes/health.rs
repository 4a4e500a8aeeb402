//! `GET /health`: liveness and what the server is wired to.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::openapi::schemas::HealthStatus;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Liveness and what the server is wired to.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The server is up.", body = HealthStatus)),
)]
async fn health(State(state): State<AppState>) -> Json<Value> {
    let provider = state.provider();
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "provider": provider.name,
        "mock_provider": provider.mock,
    });
    let mut quota = serde_json::Map::new();
    for (model, kind, remaining) in state.metrics().quota_snapshot() {
        let entry = quota.entry(model).or_insert_with(|| json!({}));
        entry[format!("remaining_{kind}")] = json!(remaining);
    }
    body["upstream_quota"] = Value::Object(quota);
    let mut admission = serde_json::Map::new();
    for (upstream, gates) in &provider.admission {
        let mut models = serde_json::Map::new();
        for (model, gate) in gates.readings() {
            models.insert(
                model,
                json!({
                    "limit": gate.limit,
                    "in_flight": gate.in_flight,
                    "queued": gate.queued,
                    "paused_ms": u64::try_from(gate.paused_for.as_millis()).unwrap_or(u64::MAX),
                    "call_ms": gate.service_time.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                }),
            );
        }
        admission.insert(upstream.clone(), Value::Object(models));
    }
    body["upstream_admission"] = Value::Object(admission);
    if let Some(storage) = state.storage() {
        body["storage"] = json!({
            "backend": storage.backend,
            "buffered_usage_writes": (storage.buffered_writes)(),
        });
    }
    if provider.mock {
        body["warning"] = json!(
            "no OPENAI_API_KEY is set: the mock provider answers with generated test images and no real cost"
        );
    }
    Json(body)
}
