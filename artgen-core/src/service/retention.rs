//! Retention (the PRD's PDPA rule: image and prompt logs kept at most the retention period):
//! images older than the cutoff lose their row and, once no row names it, their blob; usage
//! rows older than the cutoff lose their prompt and keep their counts, tokens and cost.

use serde::Serialize;

use crate::error::Result;

use super::ArtGen;

/// Image rows read per round of a purge.
const PURGE_PAGE: u32 = 500;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Image rows removed.
    pub images: u64,
    /// Blobs removed (identical images share one).
    pub blobs: u64,
    /// Blobs whose removal failed (their rows are gone; logged, retried by no one).
    pub blob_failures: u64,
    /// Usage rows whose prompt was emptied.
    pub prompts: u64,
}

impl ArtGen {
    /// [`ArtGen::purge`] of everything created more than `retention` ago by the service's
    /// clock.
    ///
    /// # Errors
    /// As [`ArtGen::purge`].
    pub async fn purge_older_than(&self, retention: std::time::Duration) -> Result<PurgeReport> {
        let age = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self.purge(self.inner.ports.clock.now_ms().saturating_sub(age))
            .await
    }

    /// Removes what is older than `before_ms` (Unix ms): image rows, their blobs once unnamed,
    /// and the prompts of usage rows. Safe to run on several replicas at once: each step is
    /// idempotent (a row another run removed first is skipped).
    ///
    /// # Errors
    /// `internal_error` when a backend fails; what was removed before stays removed.
    pub async fn purge(&self, before_ms: i64) -> Result<PurgeReport> {
        let ports = &self.inner.ports;
        let mut report = PurgeReport::default();
        loop {
            let expired = ports
                .image_index
                .list_expired(before_ms, PURGE_PAGE)
                .await?;
            if expired.is_empty() {
                break;
            }
            for meta in expired {
                if !ports.image_index.delete_image(&meta.id).await? {
                    continue;
                }
                report.images += 1;
                if ports.image_index.blob_in_use(&meta.sha256).await? {
                    continue;
                }
                match ports.images.delete(&meta.blob()).await {
                    Ok(()) => report.blobs += 1,
                    Err(err) => {
                        report.blob_failures += 1;
                        tracing::error!(
                            image_id = %meta.id,
                            sha256 = %meta.sha256,
                            error = %err,
                            "retention removed an image's row but not its blob"
                        );
                    }
                }
            }
        }
        report.prompts = ports.usage.forget_prompts(before_ms).await?;
        tracing::info!(
            event = "retention_purged",
            before_ms,
            images = report.images,
            blobs = report.blobs,
            prompts = report.prompts,
            "retention purge finished"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::domain::{Catalog, GenerateParams, Principal, RequestId, Role};
    use crate::ports::{FixedClock, ImageIndex as _};
    use crate::testing::{InMemoryImageStore, InMemoryUsageStore, MockProvider};
    use crate::{ArtGen, Ports, RequestContext};

    const DAY: Duration = Duration::from_secs(86_400);

    fn kite(prompt: &str) -> GenerateParams {
        GenerateParams {
            model: "dall-e-2".into(),
            prompt: prompt.into(),
            size: Some("256x256".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_purge_removes_old_images_and_prompts_and_keeps_the_spend() {
        let usage = Arc::new(InMemoryUsageStore::default());
        let blobs = Arc::new(InMemoryImageStore::default());
        let clock = Arc::new(FixedClock::at_secs(40 * 86_400));
        let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
        ports.usage = usage.clone();
        ports.image_index = usage.clone();
        ports.images = blobs.clone();
        ports.clock = clock.clone();
        let service = ArtGen::new(Catalog::default(), ports);
        let ctx = || RequestContext::new(RequestId::generate(), Principal::new("ann", Role::User));
        let old = service
            .generate(&ctx(), kite("an old secret"))
            .await
            .expect("old");
        clock.advance(35 * DAY);
        let new = service
            .generate(&ctx(), kite("a new one"))
            .await
            .expect("new");
        assert_eq!(blobs.blob_count(), 2);

        let report = service.purge_older_than(30 * DAY).await.expect("purge");
        assert_eq!(
            (report.images, report.blobs, report.prompts),
            (1, 1, 1),
            "{report:?}"
        );
        assert_eq!(usage.get_image(&old.images[0].id).await.expect("get"), None);
        assert!(usage
            .get_image(&new.images[0].id)
            .await
            .expect("get")
            .is_some());
        assert_eq!(blobs.blob_count(), 1, "the new image's bytes stay");
        let rows = usage.rows();
        let row = |id: &RequestId| {
            rows.iter()
                .find(|r| &r.request_id == id)
                .expect("row stays")
        };
        assert!(
            row(&old.request_id).prompt.is_empty(),
            "the old prompt is gone"
        );
        assert_eq!(row(&old.request_id).cost, old.cost, "its cost stays");
        assert_eq!(row(&new.request_id).prompt, "a new one");

        let again = service.purge_older_than(30 * DAY).await.expect("purge");
        assert_eq!(
            again,
            super::PurgeReport::default(),
            "nothing more to remove"
        );
    }
}
