//! Generic decorators over the ports.

pub mod retry;

pub use retry::{RetryPolicy, Retrying};
