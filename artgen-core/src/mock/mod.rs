//! The mock provider (feature `mock`): answers like the upstream with real, decodable images
//! drawn from the prompt and stamped "MOCK", scriptable with delays, failures and moderation
//! blocks. The reference server uses it when no upstream key is set; tests script it.
//!
//! The in-memory fakes of the other ports are test doubles only (feature `testing`, which
//! includes this one), so a production build carries the mock but no fake.

mod draw;
mod provider;

pub use draw::{draw, render, seed_for};
pub use provider::{MockCall, MockProvider, MockStep};
