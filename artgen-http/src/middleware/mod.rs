//! Middleware: request ids and the access log (outermost), bearer authentication.

pub mod auth;
pub mod idempotency;
pub mod observe;

pub use auth::{authenticate_headers, require_auth, AuthenticatedUser};
pub use idempotency::{idempotency, IdempotencyConfig, IdempotencyLayerState, InlineImages};
pub use observe::{observe, RequestSummary};
