//! Request DTOs: the bodies and form fields as callers send them, next to the handlers that
//! read them. Each derives its OpenAPI schema and converts explicitly into the core's
//! parameter types, which the core then validates (`GenerateParams::validate` and its
//! siblings); the core itself knows no wire format.

pub mod edit;
pub mod generate;

pub use edit::{EditBody, VariationBody, EDIT_FIELDS, VARIATION_FIELDS};
pub use generate::GenerateBody;
