//! The OpenAI provider against a wiremock server that behaves like OpenAI's Image API.
//!
//! Run with: `cargo test -p artgen-openai --test provider`

mod errors;
mod helpers;
mod limits;
mod success;
