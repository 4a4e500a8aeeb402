//! # artgen-http
//!
//! The driving adapter of ArtGen: the axum router as a library ([`build_router`]), the
//! composition of adapters from typed [`Settings`](settings::Settings), the server loop with
//! its connection limits ([`server::serve`]), and the reference server binary `artgen`.
//!
//! Routes: `POST /generate`, `POST /edit`, `POST /variation`, the OpenAI-compatible
//! `POST /v1/images/{generations,edits,variations}` and `GET /v1/models[/{id}]`,
//! `GET /images/{id}`, `GET /health`, `GET /metrics`, `GET /openapi.json` and the admin API
//! under `/admin` (usage, users, keys, audit). Every error is the JSON envelope
//! `{"error": {"code", "message", "type", "param", "request_id"}}`.
//!
//! Requests are read by the DTOs of [`wire`] and converted into the core's parameters; the
//! service's answers are presented by [`present`] (native, OpenAI, server-sent events).

pub mod alerts;
pub mod compose;
pub mod error;
pub mod extract;
pub mod form;
pub mod inline;
pub mod metrics;
pub mod middleware;
pub mod oidc;
pub mod openapi;
pub mod present;
pub mod retention;
pub mod router;
pub mod routes;
pub mod server;
pub mod settings;
pub mod signing;
pub mod sse;
pub mod state;
pub mod storage;
pub mod ui;
pub mod wire;

pub use error::ApiError;
pub use router::build_router;
pub use state::{AppState, HttpConfig, ProviderInfo};
