//! Backend-independent rules for reading usage rows.

/// Rows returned by a usage listing that names no limit.
pub const DEFAULT_USAGE_LIMIT: u32 = 100;

/// The most rows one usage listing returns, whatever limit it asks for.
pub const MAX_USAGE_LIMIT: u32 = 1000;

/// The limit a backend applies for a requested one: the default when absent, capped at
/// [`MAX_USAGE_LIMIT`]. Zero stays zero (an empty page).
pub(crate) fn effective_limit(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(DEFAULT_USAGE_LIMIT)
        .min(MAX_USAGE_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_limit_defaults_to_one_hundred_and_caps_at_one_thousand() {
        assert_eq!(effective_limit(None), 100);
        assert_eq!(effective_limit(Some(5)), 5);
        assert_eq!(effective_limit(Some(1000)), 1000);
        assert_eq!(effective_limit(Some(1001)), 1000);
        assert_eq!(effective_limit(Some(u32::MAX)), 1000);
        assert_eq!(effective_limit(Some(0)), 0);
    }
}
