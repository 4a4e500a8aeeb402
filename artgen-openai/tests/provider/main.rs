//! The OpenAI provider against a wiremock server that behaves like OpenAI's Image API.
//!
//! Run with: `cargo test -p artgen-openai --test provider`

mod azure;
mod cancel;
mod edits;
mod errors;
mod forms;
mod helpers;
mod limits;
mod quota;
mod streaming;
mod success;
