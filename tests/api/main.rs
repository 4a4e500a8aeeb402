//! Black-box HTTP tests: the real router on a random port against a wiremock upstream.

mod auth;
mod capacity;
mod circuit;
mod compat;
mod durability;
mod gallery;
mod generate;
mod hardening;
mod helpers;
mod hostile;
mod idempotency;
mod images;
mod limits;
mod models;
mod node_sdk;
mod object_images;
mod observability;
mod openai_schemas;
mod python_sdk;
mod resilience;
mod sdk;
mod shared_limit;
mod streaming;
mod uploads;
mod upstream;
mod validation;
