//! Black-box HTTP tests: the real router on a random port against a wiremock upstream.

mod auth;
mod circuit;
mod compat;
mod durability;
mod generate;
mod hardening;
mod helpers;
mod idempotency;
mod images;
mod limits;
mod observability;
mod python_sdk;
mod resilience;
mod streaming;
mod uploads;
mod upstream;
mod validation;
