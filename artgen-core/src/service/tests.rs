//! Service tests over in-memory ports and the mock provider.

use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::domain::{EditParams, Operation, Quality, Role, UploadedImage, VariationParams};
use crate::testing::{render, InMemoryUsageStore, MockProvider, MockStep};

struct Harness {
    service: ArtGen,
    usage: Arc<InMemoryUsageStore>,
    mock: Arc<MockProvider>,
}

fn harness() -> Harness {
    let mock = Arc::new(MockProvider::new());
    let usage = Arc::new(InMemoryUsageStore::default());
    let mut ports = Ports::in_memory(mock.clone());
    ports.usage = usage.clone();
    ports.image_index = usage.clone();
    Harness {
        service: ArtGen::new(Catalog::default(), ports),
        usage,
        mock,
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(RequestId::generate(), Principal::new("lisa", Role::User))
}

fn generate(model: &str, size: &str) -> GenerateParams {
    GenerateParams {
        model: model.into(),
        prompt: "a kite".into(),
        size: Some(size.into()),
        ..Default::default()
    }
}

fn upload(part: &str, w: u32, h: u32, alpha: bool) -> UploadedImage {
    let bytes = render(Dimensions::new(w, h), OutputFormat::Png, alpha, 1).expect("renders");
    UploadedImage::inspect(part, None, Some("image/png"), bytes, 4 * 1024 * 1024)
        .expect("valid upload")
}

#[tokio::test]
async fn a_generation_stores_its_images_and_records_one_row() {
    let h = harness();
    let ctx = ctx();

    let generation = h
        .service
        .generate(&ctx, generate("dall-e-2", "256x256"))
        .await
        .expect("generates");

    let (meta, bytes) = h
        .service
        .image(&ctx.principal, generation.images[0].id.as_str())
        .await
        .expect("stored");
    assert_eq!(meta.dimensions, Dimensions::new(256, 256));
    assert_eq!(bytes, generation.images[0].bytes);
    let rows = h.usage.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
    assert_eq!(rows[0].cost, Money::from_micros(16_000));
    assert_eq!(rows[0].request_id, ctx.request_id);
}

#[tokio::test]
async fn a_failed_upstream_call_records_a_failed_row_and_no_cost() {
    let h = harness();
    h.mock
        .push(MockStep::moderation("rejected by the safety system"));

    let err = h
        .service
        .generate(&ctx(), generate("gpt-image-1", "1024x1024"))
        .await
        .expect_err("blocked");

    assert_eq!(
        err.code(),
        ErrorCode::ModerationBlocked,
        "GPT image models' code"
    );
    let rows = h.usage.rows();
    assert_eq!(rows[0].status, UsageStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some("moderation_blocked"));
    assert_eq!(rows[0].cost, Money::ZERO);
}

#[tokio::test]
async fn validation_failures_never_reach_the_provider_or_the_usage_table() {
    let h = harness();
    let err = h
        .service
        .generate(&ctx(), generate("gpt-image-1", "256x256"))
        .await
        .expect_err("bad size");
    assert_eq!(err.param(), Some("size"));
    assert_eq!(h.mock.calls(), 0);
    assert!(h.usage.rows().is_empty());
}

#[tokio::test]
async fn edits_and_variations_run_through_the_same_flow() {
    let h = harness();
    let edit = EditParams {
        options: generate("dall-e-2", "256x256"),
        images: vec![upload("image", 256, 256, false)],
        mask: Some(upload("mask", 256, 256, true)),
        markup: None,
        input_fidelity: None,
    };
    let edited = h
        .service
        .execute(&ctx(), JobParams::Edit(edit))
        .await
        .expect("edits");
    assert_eq!(edited.images[0].dimensions, Dimensions::new(256, 256));

    let variation = VariationParams {
        n: Some(3),
        size: Some("512x512".into()),
        image: Some(upload("image", 64, 64, false)),
        ..Default::default()
    };
    let varied = h
        .service
        .execute(&ctx(), JobParams::Variation(variation))
        .await
        .expect("varies");
    assert_eq!(varied.images.len(), 3);
    assert_eq!(varied.cost, Money::from_micros(3 * 18_000));

    let ops: Vec<_> = h.usage.rows().iter().map(|r| r.operation).collect();
    assert_eq!(ops, [Operation::Edit, Operation::Variation]);
}

/// Collects events; says the client left after `keep` events.
struct VecSink {
    events: Vec<ServiceEvent>,
    keep: usize,
}

#[async_trait]
impl EventSink for VecSink {
    async fn send(&mut self, event: ServiceEvent) -> bool {
        self.events.push(event);
        self.events.len() < self.keep
    }
}

fn streamed() -> JobParams {
    JobParams::Generate(GenerateParams {
        stream: Some(true),
        partial_images: Some(2),
        quality: Some(crate::domain::Quality::Low),
        ..generate("gpt-image-1", "1024x1024")
    })
}

#[tokio::test]
async fn a_stream_delivers_partials_then_the_stored_image_and_records_usage() {
    let h = harness();
    let ctx = ctx();
    let mut sink = VecSink {
        events: Vec::new(),
        keep: usize::MAX,
    };

    let generation = h
        .service
        .execute_stream(&ctx, streamed(), &mut sink)
        .await
        .expect("streams");

    assert!(matches!(
        sink.events[0],
        ServiceEvent::Partial { index: 0, .. }
    ));
    assert!(matches!(
        sink.events[1],
        ServiceEvent::Partial { index: 1, .. }
    ));
    let ServiceEvent::Completed { image, usage } = &sink.events[2] else {
        panic!("completed last");
    };
    assert_eq!(image.id, generation.images[0].id);
    assert_eq!(usage.expect("usage").output_image_tokens, 272);
    assert!(h
        .service
        .image(&ctx.principal, image.id.as_str())
        .await
        .is_ok());
    let rows = h.usage.rows();
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
    assert_eq!(rows[0].tokens.output_image_tokens, 272);
}

#[tokio::test]
async fn a_client_leaving_mid_stream_stops_it_and_records_a_cancelled_row() {
    let h = harness();
    let mut sink = VecSink {
        events: Vec::new(),
        keep: 1,
    };

    let err = h
        .service
        .execute_stream(&ctx(), streamed(), &mut sink)
        .await
        .expect_err("cancelled");

    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert_eq!(
        sink.events.len(),
        1,
        "nothing is sent after the client left"
    );
    let rows = h.usage.rows();
    assert_eq!(rows[0].error_code.as_deref(), Some("cancelled"));
    assert_eq!(rows[0].cost, Money::ZERO);
}

#[tokio::test]
async fn a_stream_request_on_the_json_path_is_refused_and_vice_versa() {
    let h = harness();
    let err = h
        .service
        .execute(&ctx(), streamed())
        .await
        .expect_err("needs the stream path");
    assert_eq!(err.param(), Some("stream"));
    let mut sink = VecSink {
        events: Vec::new(),
        keep: usize::MAX,
    };
    let plain = JobParams::Generate(generate("gpt-image-1", "1024x1024"));
    let err = h
        .service
        .execute_stream(&ctx(), plain, &mut sink)
        .await
        .expect_err("not a stream");
    assert_eq!(err.param(), Some("stream"));
}

#[tokio::test]
async fn others_cannot_read_an_image_but_admins_can() {
    let h = harness();
    let generation = h
        .service
        .generate(&ctx(), generate("dall-e-2", "256x256"))
        .await
        .expect("generates");
    let id = generation.images[0].id.as_str();
    let other = Principal::new("somchai", Role::User);
    let admin = Principal::new("root", Role::Admin);
    assert_eq!(
        h.service
            .image(&other, id)
            .await
            .expect_err("hidden")
            .code(),
        ErrorCode::NotFound
    );
    assert!(h.service.image(&admin, id).await.is_ok());
}

/// Admits exactly one unit, ever.
#[derive(Default)]
struct OneUnit(std::sync::atomic::AtomicU32);

#[async_trait]
impl RateLimiter for OneUnit {
    async fn acquire(
        &self,
        _key: &str,
        cost: u32,
        _quota: crate::ports::RateQuota,
    ) -> Result<crate::ports::RateDecision> {
        let taken = self.0.fetch_add(cost, std::sync::atomic::Ordering::SeqCst);
        Ok(if taken == 0 {
            crate::ports::RateDecision::admit(None)
        } else {
            crate::ports::RateDecision::refuse(Some(Duration::from_secs(60)), None)
        })
    }
}

#[tokio::test]
async fn a_request_admitted_early_is_not_charged_again_when_it_runs() {
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.rate_limiter = Arc::new(OneUnit::default());
    let service = ArtGen::new(Catalog::default(), ports);
    let first = ctx();

    service.admit_early(&first).await.expect("the one unit");
    let ran = service
        .generate(&first, generate("dall-e-2", "256x256"))
        .await;
    let second = service.admit_early(&ctx()).await;

    assert!(ran.is_ok(), "charged twice: {ran:?}");
    let refused = second.expect_err("no unit left");
    assert_eq!(refused.code(), ErrorCode::RateLimited);
    assert!(refused.retry_after().is_some());
}

/// Admits everything and records the cost of each call.
#[derive(Default)]
struct Costs(std::sync::Mutex<Vec<u32>>);

impl Costs {
    fn taken(&self) -> Vec<u32> {
        self.0.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl RateLimiter for Costs {
    async fn acquire(
        &self,
        _key: &str,
        cost: u32,
        _quota: crate::ports::RateQuota,
    ) -> Result<crate::ports::RateDecision> {
        self.0.lock().expect("not poisoned").push(cost);
        Ok(crate::ports::RateDecision::admit(None))
    }
}

fn weighed(model: &str, size: &str, quality: Quality, n: u32) -> GenerateParams {
    GenerateParams {
        quality: Some(quality),
        n: Some(n),
        ..generate(model, size)
    }
}

#[tokio::test]
async fn a_request_is_charged_units_by_quality_size_and_count() {
    let costs = Arc::new(Costs::default());
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.rate_limiter = costs.clone();
    let service = ArtGen::new(Catalog::default(), ports);

    for params in [
        generate("dall-e-2", "256x256"),
        weighed("gpt-image-2", "1024x1024", Quality::Low, 1),
        weighed("gpt-image-2", "1024x1024", Quality::Medium, 1),
        weighed("gpt-image-2", "1536x1024", Quality::High, 1),
        weighed("gpt-image-2", "1536x1024", Quality::High, 2),
    ] {
        service.generate(&ctx(), params).await.expect("admitted");
    }

    assert_eq!(costs.taken(), [1, 1, 1, 3, 6]);
}

#[tokio::test]
async fn the_operator_s_weights_price_the_request() {
    let costs = Arc::new(Costs::default());
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.rate_limiter = costs.clone();
    let weights = RateWeights {
        low: 3.0,
        ..RateWeights::per_image()
    };
    let service = ArtGen::new(Catalog::default(), ports).with_rate_weights(weights);

    let low = weighed("gpt-image-2", "1536x1024", Quality::Low, 2);
    let high = weighed("gpt-image-2", "1536x1024", Quality::High, 2);
    service.generate(&ctx(), low).await.expect("admitted");
    service.generate(&ctx(), high).await.expect("admitted");

    assert_eq!(costs.taken(), [6, 2], "low weighs 3, size ignored");
    assert_eq!(service.rate_weights(), &weights);
}

#[tokio::test]
async fn an_early_unit_is_deducted_from_the_request_s_cost() {
    let costs = Arc::new(Costs::default());
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.rate_limiter = costs.clone();
    let service = ArtGen::new(Catalog::default(), ports);
    let first = ctx();

    service.admit_early(&first).await.expect("admitted");
    let params = weighed("gpt-image-2", "1536x1024", Quality::High, 1);
    service.generate(&first, params).await.expect("admitted");

    assert_eq!(
        costs.taken(),
        [1, 2],
        "three units in all, one of them early"
    );
}

#[tokio::test]
async fn a_refusal_says_what_the_request_costs_in_units() {
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.rate_limiter = Arc::new(OneUnit::default());
    let service = ArtGen::new(Catalog::default(), ports);

    service
        .generate(&ctx(), generate("dall-e-2", "256x256"))
        .await
        .expect("the one unit");
    let params = weighed("gpt-image-2", "1536x1024", Quality::High, 2);
    let refused = service
        .generate(&ctx(), params)
        .await
        .expect_err("no unit left");

    assert_eq!(refused.code(), ErrorCode::RateLimited);
    assert!(
        refused.message().contains("costs 6 rate-limit units"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn a_markup_is_checked_like_a_mask_before_any_call() {
    let h = harness();
    let edit = |markup: UploadedImage, mask: Option<UploadedImage>| EditParams {
        options: generate("gpt-image-2.5-flare", "1024x1024"),
        images: vec![upload("image", 64, 64, false)],
        mask,
        markup: Some(markup),
        input_fidelity: None,
    };
    let cases = [
        (
            edit(upload("markup", 32, 32, true), None),
            ErrorCode::InvalidImage,
        ),
        (
            edit(
                upload("markup", 64, 64, true),
                Some(upload("mask", 64, 64, true)),
            ),
            ErrorCode::InvalidValue,
        ),
    ];
    for (params, code) in cases {
        let err = h
            .service
            .execute(&ctx(), JobParams::Edit(params))
            .await
            .map(|g| g.images.len())
            .expect_err("refused");
        assert_eq!((err.code(), err.param()), (code, Some("markup")), "{err}");
    }
    assert_eq!(h.mock.calls(), 0);

    let accepted = h
        .service
        .execute(
            &ctx(),
            JobParams::Edit(edit(upload("markup", 64, 64, true), None)),
        )
        .await
        .expect("a transparent markup of the image's size");
    assert_eq!(accepted.images.len(), 1);
}
