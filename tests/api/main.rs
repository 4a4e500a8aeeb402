//! Black-box HTTP tests: the real router on a random port against a wiremock upstream.

mod auth;
mod generate;
mod helpers;
mod images;
mod limits;
mod observability;
mod upstream;
mod validation;
