//! Middleware: request ids and the access log (outermost), the body read deadline, bearer
//! authentication, upload slots.

pub mod auth;
pub mod idempotency;
pub mod observe;
pub mod read_timeout;
pub mod uploads;

pub use auth::{authenticate_headers, require_auth, AuthenticatedUser};
pub use idempotency::{idempotency, IdempotencyConfig, IdempotencyLayerState, InlineImages};
pub use observe::{note_model, observe, RequestSummary};
pub use read_timeout::{read_timeout, BodyReadTimeout};
pub use uploads::{upload_slot, UploadSlots};
