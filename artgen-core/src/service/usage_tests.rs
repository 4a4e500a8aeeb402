//! How the service writes usage: started before the upstream call, finished before the
//! answer leaves, nothing for requests refused locally.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::*;
use crate::domain::{RequestId, Role, UsageQuery, UsageSummary, UsageSummaryQuery};
use crate::ports::{ImageEventStream, RateDecision, RateLimiter};
use crate::testing::{InMemoryUsageStore, MockProvider, MockStep};

/// A usage store whose writes can be held back or made to fail, noting every write in order.
#[derive(Default)]
struct ScriptedUsage {
    rows: InMemoryUsageStore,
    /// `finish` waits for a permit when set.
    finish_gate: Option<Arc<Semaphore>>,
    fail_start: bool,
    fail_finish: bool,
    log: Mutex<Vec<String>>,
}

impl ScriptedUsage {
    fn note(&self, entry: String) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl UsageStore for ScriptedUsage {
    async fn record(&self, record: &UsageRecord) -> Result<()> {
        self.rows.record(record).await
    }

    async fn start(&self, record: &UsageRecord) -> Result<()> {
        if self.fail_start {
            return Err(Error::internal("database is locked"));
        }
        self.note(format!("start {}", record.status.as_str()));
        self.rows.start(record).await
    }

    async fn finish(&self, record: &UsageRecord, images: &[ImageMeta]) -> Result<()> {
        if let Some(gate) = &self.finish_gate {
            let _permit = gate.acquire().await.map_err(Error::internal)?;
        }
        if self.fail_finish {
            return Err(Error::internal("disk full"));
        }
        self.rows.finish(record, images).await?;
        self.note(format!("finish {}", record.status.as_str()));
        Ok(())
    }

    async fn discard(&self, request_id: &RequestId) -> Result<()> {
        self.note("discard".to_owned());
        self.rows.discard(request_id).await
    }

    async fn recover_unfinished(&self, before_ms: i64) -> Result<u64> {
        self.rows.recover_unfinished(before_ms).await
    }

    async fn forget_prompts(&self, before_ms: i64) -> Result<u64> {
        self.rows.forget_prompts(before_ms).await
    }

    async fn list(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>> {
        self.rows.list(query).await
    }

    async fn get(&self, request_id: &RequestId) -> Result<Option<UsageRecord>> {
        self.rows.get(request_id).await
    }

    async fn summarize(&self, query: &UsageSummaryQuery) -> Result<Vec<UsageSummary>> {
        self.rows.summarize(query).await
    }
}

/// A provider that notes what the usage store held when it was called, then asks the mock.
struct Spy {
    mock: MockProvider,
    usage: Arc<ScriptedUsage>,
    seen: Mutex<Vec<UsageRecord>>,
}

impl Spy {
    fn look(&self) {
        let rows = self.usage.rows.rows();
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(rows);
    }
}

#[async_trait]
impl ImageProvider for Spy {
    fn name(&self) -> &str {
        "mock"
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        self.look();
        self.mock.run(job).await
    }

    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        self.look();
        self.mock.stream(job).await
    }
}

struct Harness {
    service: ArtGen,
    usage: Arc<ScriptedUsage>,
    spy: Arc<Spy>,
}

fn harness(usage: ScriptedUsage) -> Harness {
    let usage = Arc::new(usage);
    let spy = Arc::new(Spy {
        mock: MockProvider::new(),
        usage: usage.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let mut ports = Ports::in_memory(spy.clone());
    ports.usage = usage.clone();
    Harness {
        service: ArtGen::new(Catalog::default(), ports),
        usage,
        spy,
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(RequestId::generate(), Principal::new("lisa", Role::User))
}

fn dall_e_2() -> JobParams {
    JobParams::Generate(GenerateParams {
        model: "dall-e-2".into(),
        prompt: "a kite".into(),
        size: Some("256x256".into()),
        ..Default::default()
    })
}

fn streamed() -> JobParams {
    JobParams::Generate(GenerateParams {
        model: "gpt-image-1".into(),
        prompt: "a kite".into(),
        size: Some("1024x1024".into()),
        stream: Some(true),
        partial_images: Some(1),
        quality: Some(crate::domain::Quality::Low),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_request_is_recorded_as_started_at_its_estimate_before_the_upstream_is_called() {
    let h = harness(ScriptedUsage::default());
    let ctx = ctx();

    h.service
        .execute(&ctx, dall_e_2())
        .await
        .expect("generates");

    let seen = h.spy.seen.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 1, "one row existed when the provider ran");
    assert_eq!(seen[0].request_id, ctx.request_id);
    assert_eq!(seen[0].status, UsageStatus::Started);
    assert_eq!(seen[0].estimated_cost, Money::from_micros(16_000));
    assert_eq!(
        seen[0].cost, seen[0].estimated_cost,
        "counted at the estimate"
    );
    let rows = h.usage.rows.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
    assert_eq!(h.usage.log(), ["start started", "finish succeeded"]);
}

#[tokio::test]
async fn an_answer_is_returned_only_after_its_usage_row_is_finished() {
    let gate = Arc::new(Semaphore::new(0));
    let h = harness(ScriptedUsage {
        finish_gate: Some(gate.clone()),
        ..ScriptedUsage::default()
    });
    let service = h.service.clone();
    let running = tokio::spawn(async move { service.execute(&ctx(), dall_e_2()).await });

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!running.is_finished(), "the answer waits for the row");
    assert_eq!(h.usage.log(), ["start started"]);

    gate.add_permits(1);
    let generation = running.await.expect("task").expect("generates");
    assert_eq!(generation.images.len(), 1);
    assert_eq!(h.usage.log(), ["start started", "finish succeeded"]);
}

#[tokio::test]
async fn an_answer_whose_usage_cannot_be_recorded_is_withheld() {
    let h = harness(ScriptedUsage {
        fail_finish: true,
        ..ScriptedUsage::default()
    });

    let err = h
        .service
        .execute(&ctx(), dall_e_2())
        .await
        .expect_err("withheld");

    assert_eq!(err.code(), ErrorCode::Internal);
    let mut chain = Vec::new();
    let mut cause = std::error::Error::source(&err);
    while let Some(next) = cause {
        chain.push(next.to_string());
        cause = next.source();
    }
    assert!(
        chain.iter().any(|c| c.contains("disk full")),
        "the cause is kept for the log: {chain:?}"
    );
    assert_eq!(h.spy.mock.calls(), 1, "the upstream was called (and paid)");
    let rows = h.usage.rows.rows();
    assert_eq!(
        rows[0].status,
        UsageStatus::Started,
        "the started row still counts the estimate"
    );
}

#[tokio::test]
async fn a_request_whose_start_cannot_be_recorded_is_refused_before_the_upstream() {
    let h = harness(ScriptedUsage {
        fail_start: true,
        ..ScriptedUsage::default()
    });

    let err = h
        .service
        .execute(&ctx(), dall_e_2())
        .await
        .expect_err("refused");

    assert_eq!(err.code(), ErrorCode::StorageUnavailable);
    assert_eq!(err.kind(), crate::error::ErrorKind::Unavailable);
    assert!(err.retry_after().is_some());
    assert_eq!(h.spy.mock.calls(), 0, "nothing was spent");
}

#[tokio::test]
async fn requests_refused_locally_by_a_full_queue_or_an_open_circuit_leave_no_row() {
    let h = harness(ScriptedUsage::default());
    h.spy.mock.push(MockStep::Fail(Error::new(
        ErrorCode::UpstreamBusy,
        "the queue is full",
    )));
    h.spy.mock.push(MockStep::Fail(Error::new(
        ErrorCode::UpstreamUnavailable,
        "the circuit is open",
    )));

    for expected in [ErrorCode::UpstreamBusy, ErrorCode::UpstreamUnavailable] {
        let err = h
            .service
            .execute(&ctx(), dall_e_2())
            .await
            .expect_err("refused");
        assert_eq!(err.code(), expected);
    }

    assert!(h.usage.rows.rows().is_empty(), "{:?}", h.usage.rows.rows());
    assert_eq!(
        h.usage.log(),
        ["start started", "discard", "start started", "discard"]
    );
}

/// Refuses everyone.
struct Closed;

#[async_trait]
impl RateLimiter for Closed {
    async fn acquire(
        &self,
        _user: &str,
        _cost: u32,
        _quota: crate::ports::RateQuota,
    ) -> Result<RateDecision> {
        Ok(RateDecision {
            admitted: false,
            retry_after: Some(Duration::from_secs(3)),
            status: None,
        })
    }
}

#[tokio::test]
async fn requests_refused_by_validation_or_the_rate_limit_write_nothing() {
    let usage = Arc::new(ScriptedUsage::default());
    let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
    ports.usage = usage.clone();
    ports.rate_limiter = Arc::new(Closed);
    let service = ArtGen::new(Catalog::default(), ports);
    let invalid = JobParams::Generate(GenerateParams {
        model: "dall-e-2".into(),
        prompt: "a kite".into(),
        size: Some("1x1".into()),
        ..Default::default()
    });

    let bad = service.execute(&ctx(), invalid).await.expect_err("invalid");
    let limited = service
        .execute(&ctx(), dall_e_2())
        .await
        .expect_err("limited");

    assert_eq!(bad.param(), Some("size"));
    assert_eq!(limited.code(), ErrorCode::RateLimited);
    assert!(usage.log().is_empty(), "{:?}", usage.log());
    assert!(usage.rows.rows().is_empty());
}

/// Notes each event's kind and what the usage log said when it arrived.
struct Watching {
    usage: Arc<ScriptedUsage>,
    seen: Vec<(&'static str, Vec<String>)>,
}

#[async_trait]
impl EventSink for Watching {
    async fn send(&mut self, event: ServiceEvent) -> bool {
        let kind = match event {
            ServiceEvent::Partial { .. } => "partial",
            ServiceEvent::Completed { .. } => "completed",
        };
        self.seen.push((kind, self.usage.log()));
        true
    }
}

#[tokio::test]
async fn a_streams_final_event_goes_out_only_after_its_row_is_finished() {
    let h = harness(ScriptedUsage::default());
    let mut sink = Watching {
        usage: h.usage.clone(),
        seen: Vec::new(),
    };

    h.service
        .execute_stream(&ctx(), streamed(), &mut sink)
        .await
        .expect("streams");

    let kinds: Vec<_> = sink.seen.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, ["partial", "completed"]);
    assert_eq!(sink.seen[0].1, ["start started"], "partials flow at once");
    assert_eq!(
        sink.seen[1].1,
        ["start started", "finish succeeded"],
        "the last event waits for the row"
    );
}

#[tokio::test]
async fn a_stream_whose_usage_cannot_be_recorded_never_sends_its_final_event() {
    let h = harness(ScriptedUsage {
        fail_finish: true,
        ..ScriptedUsage::default()
    });
    let mut sink = Watching {
        usage: h.usage.clone(),
        seen: Vec::new(),
    };

    let err = h
        .service
        .execute_stream(&ctx(), streamed(), &mut sink)
        .await
        .expect_err("withheld");

    assert_eq!(err.code(), ErrorCode::Internal);
    let kinds: Vec<_> = sink.seen.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, ["partial"]);
}
