//! Retention (the PRD's PDPA rule: image and prompt logs kept at most 30 days): the settings,
//! the background purge, and how prompts appear in the access log.

use std::time::Duration;

use artgen_core::ArtGen;
use serde::{Deserialize, Serialize};

/// How the access log shows a request's prompt. Logs are shipped to systems whose retention
/// ArtGen does not control, so by default no prompt text reaches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptLogging {
    /// No `prompt` field.
    Off,
    /// The prompt's length in characters and the first 12 hex digits of its SHA-256: enough to
    /// tell that two requests sent the same prompt, nothing of what it says (the default).
    #[default]
    Redacted,
    /// The prompt as sent. Only where the logs' own retention meets the PDPA rule.
    Full,
}

impl PromptLogging {
    /// The access log's `prompt` field for `prompt`, if any.
    pub fn render(self, prompt: &str) -> Option<String> {
        match self {
            Self::Off => None,
            Self::Full => Some(prompt.to_owned()),
            Self::Redacted => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(prompt.as_bytes());
                let short = hex::encode(&digest[..6]);
                Some(format!(
                    "[{} chars, sha256 {short}]",
                    prompt.chars().count()
                ))
            }
        }
    }
}

/// `[retention]`: how long prompts and images are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Images (their rows and bytes) and the prompts of usage rows older than this many days are
    /// removed; usage counts, tokens and cost stay (0: keep everything).
    pub days: u32,
    /// How often the server purges, seconds (0: never; `artgen purge` still works).
    pub purge_interval_secs: u64,
    /// How the access log shows prompts: `off`, `redacted` (default) or `full`.
    pub prompt_logging: PromptLogging,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: 30,
            purge_interval_secs: 3600,
            prompt_logging: PromptLogging::default(),
        }
    }
}

impl RetentionConfig {
    /// The retention period, `None` when everything is kept.
    pub fn period(&self) -> Option<Duration> {
        (self.days > 0).then(|| Duration::from_secs(u64::from(self.days) * 86_400))
    }

    /// Starts the periodic purge on the current runtime (nothing when retention or the
    /// interval is 0). The first purge runs at once, so a server started after a long pause
    /// catches up before serving for long.
    pub fn spawn_purger(&self, service: ArtGen) {
        let (Some(period), true) = (self.period(), self.purge_interval_secs > 0) else {
            return;
        };
        let every = Duration::from_secs(self.purge_interval_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = service.purge_older_than(period).await {
                    tracing::warn!(error = %err, "retention purge failed; retried next round");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_prompt_shows_its_length_and_hash_only() {
        let shown = PromptLogging::Redacted
            .render("a secret plan, «ünï»")
            .expect("a field");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.starts_with("[20 chars, sha256 "), "{shown}");
        assert_eq!(
            PromptLogging::Redacted.render("a secret plan, «ünï»"),
            Some(shown),
            "the same prompt gives the same field"
        );
        assert_ne!(
            PromptLogging::Redacted.render("x"),
            PromptLogging::Redacted.render("y")
        );
        assert_eq!(PromptLogging::Off.render("x"), None);
        assert_eq!(PromptLogging::Full.render("x").as_deref(), Some("x"));
    }

    #[test]
    fn retention_defaults_to_thirty_days_and_zero_keeps_everything() {
        let config = RetentionConfig::default();
        assert_eq!(config.period(), Some(Duration::from_secs(30 * 86_400)));
        let keep = RetentionConfig { days: 0, ..config };
        assert_eq!(keep.period(), None);
    }
}
