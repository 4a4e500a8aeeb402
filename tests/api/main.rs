//! api tests
