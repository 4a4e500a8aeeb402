//! The ports: object-safe traits the service drives and adapters implement.

pub mod audit;
pub mod authenticator;
pub mod clock;
pub mod idempotency;
pub mod image_index;
pub mod image_store;
pub mod key_store;
pub mod ledger;
pub mod provider;
pub mod rate_limiter;
pub mod telemetry;
pub mod usage_store;
pub mod user_store;

pub use audit::{AuditEntry, AuditLog, AuditQuery};
pub use authenticator::{Authenticator, CachingAuthenticator};
pub use clock::{Clock, FixedClock, SystemClock};
pub use idempotency::{Begin, IdempotencyStore, StoredImage, StoredResponse};
pub use image_index::{ImageCursor, ImageIndex, ImageMeta, ImagePage};
pub use image_store::{read_body, BlobRef, ImageBody, ImageStore};
pub use key_store::{KeyInfo, KeyStore};
pub use ledger::Ledger;
pub use provider::{
    ImageEventStream, ImageProvider, ProviderImage, ProviderResponse, ResponseEcho, StreamEvent,
};
pub use rate_limiter::{
    RateDecision, RateLimitSlot, RateLimitStatus, RateLimiter, RateQuota, RateWeights, Unlimited,
};
pub use telemetry::{NoTelemetry, Telemetry};
pub use usage_store::UsageStore;
pub use user_store::UserStore;
