//! Route handlers, one module per resource.

pub mod admin;
pub mod edit;
pub mod generate;
pub mod health;
pub mod images;
pub mod metrics;
pub mod models;
pub mod openai;
