//! Tests of the admission gates (on tokio's paused clock).

use std::future::Future;

use tokio::time::Instant;

use super::*;
use crate::domain::{Catalog, GenerateParams};
use crate::testing::{MockProvider, MockStep};

fn job(model: &str) -> ImageJob {
    let params = GenerateParams {
        model: model.into(),
        prompt: "a lighthouse".into(),
        size: (model == "dall-e-2").then(|| "256x256".into()),
        ..Default::default()
    };
    ImageJob::Generate(params.validate(&Catalog::default()).expect("valid"))
}

fn limit(mock: &Arc<MockProvider>, in_flight: u32, queue: u32) -> ConcurrencyLimit {
    let config = ConcurrencyConfig::default()
        .with_fixed_in_flight(in_flight)
        .with_max_queue(queue)
        .with_max_wait(Duration::from_secs(5));
    ConcurrencyLimit::new(mock.clone(), config)
}

/// Runs `call` and notes when it finished.
async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = call.await;
    (out, started.elapsed())
}

fn assert_busy<T: std::fmt::Debug>(answer: Result<T>) -> Duration {
    let err = answer.expect_err("turned away");
    assert_eq!(err.code(), ErrorCode::UpstreamBusy);
    assert!(!err.is_retryable());
    let after = err.retry_after().expect("a retry-after");
    assert!(after >= Duration::from_secs(1), "{after:?}");
    after
}

fn reading(limit: &ConcurrencyLimit, model: &str) -> GateReading {
    limit
        .gates()
        .readings()
        .into_iter()
        .find(|(m, _)| m == model)
        .map(|(_, r)| r)
        .expect("a gate for the model")
}

#[tokio::test(start_paused = true)]
async fn turns_away_the_call_beyond_the_limit_at_once_without_a_queue() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
    let limit = limit(&mock, 2, 0);
    let job = job("dall-e-2");

    let (a, b, (c, c_took)) =
        tokio::join!(limit.run(&job), limit.run(&job), timed(limit.run(&job)));

    assert!(a.is_ok() && b.is_ok(), "the first two run");
    assert_busy(c);
    assert_eq!(c_took, Duration::ZERO);
    assert_eq!(mock.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_runs_when_a_slot_frees() {
    let mock = Arc::new(MockProvider::new());
    mock.push(MockStep::Delay(Duration::from_secs(3)));
    let limit = limit(&mock, 1, 1);
    let job = job("dall-e-2");

    let (a, (b, b_took)) = tokio::join!(limit.run(&job), timed(limit.run(&job)));

    assert!(a.is_ok());
    assert!(b.is_ok(), "{b:?}");
    assert_eq!(b_took, Duration::from_secs(3));
    assert_eq!(mock.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_waiting_after_max_wait() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
    let limit = limit(&mock, 1, 4);
    let job = job("dall-e-2");

    let (a, (b, b_took)) = tokio::join!(limit.run(&job), timed(limit.run(&job)));

    assert!(a.is_ok());
    assert_busy(b);
    assert_eq!(b_took, Duration::from_secs(5));
    assert_eq!(mock.calls(), 1);
    assert_eq!(reading(&limit, "dall-e-2").queued, 0, "it left the queue");
}

#[tokio::test(start_paused = true)]
async fn a_caller_whose_expected_wait_is_too_long_is_told_the_truth_at_once() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(4)));
    let limit = limit(&mock, 1, 100);
    let job = job("dall-e-2");
    limit
        .run(&job)
        .await
        .expect("teaches the gate that a call takes 4 s");

    // One runs, one waits (expected 4 s), the third would wait 8 s > 5 s.
    let (a, b, (c, c_took)) =
        tokio::join!(limit.run(&job), limit.run(&job), timed(limit.run(&job)));

    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let after = assert_busy(c);
    assert_eq!(c_took, Duration::ZERO, "refused before waiting");
    assert_eq!(
        after,
        Duration::from_secs(8),
        "the expected wait, not a fixed second"
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(1)));
    let limit = Arc::new(limit(&mock, 1, 10));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (limit, order) = (limit.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let job = job("dall-e-2");
            limit.run(&job).await.expect("served");
            order.lock().expect("lock").push(i);
        }));
        // Arrive in order.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for task in tasks {
        task.await.expect("joined");
    }
    assert_eq!(*order.lock().expect("lock"), [0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn models_do_not_share_slots() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
    let limit = limit(&mock, 1, 0);

    let (two, three) = (job("dall-e-2"), job("dall-e-3"));

    let (a, b) = tokio::join!(limit.run(&two), limit.run(&three));

    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
}

#[tokio::test(start_paused = true)]
async fn failed_and_cancelled_calls_give_their_slot_back() {
    let mock = Arc::new(MockProvider::new());
    for _ in 0..5 {
        mock.push(MockStep::server_error());
    }
    mock.push(MockStep::Delay(Duration::from_secs(60)));
    let limit = limit(&mock, 1, 0);
    let job = job("dall-e-2");
    for _ in 0..5 {
        limit.run(&job).await.expect_err("scripted failure");
    }
    let cancelled = tokio::time::timeout(Duration::from_secs(1), limit.run(&job)).await;
    assert!(cancelled.is_err(), "the hanging call was cut off");

    let (answer, took) = timed(limit.run(&job)).await;

    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
    let limit = limit(&mock, 1, 10);
    let job = job("dall-e-2");

    let running = limit.run(&job);
    let waiting = tokio::time::timeout(Duration::from_secs(1), limit.run(&job));
    let (_, cut) = tokio::join!(running, async {
        let cut = waiting.await;
        assert_eq!(reading(&limit, "dall-e-2").queued, 0);
        cut
    });

    assert!(cut.is_err(), "the waiter was cancelled");
    assert_eq!(mock.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_holds_its_slot_until_dropped_or_finished() {
    let mock = Arc::new(MockProvider::new());
    let limit = limit(&mock, 1, 0);
    let job = job("dall-e-2");

    let mut events = limit.stream(&job).await.expect("opens");
    assert_busy(limit.run(&job).await);
    drop(events);
    let answer = limit.run(&job).await;
    assert!(answer.is_ok(), "{answer:?}");

    events = limit.stream(&job).await.expect("opens again");
    while events.next().await.is_some() {}
    let answer = limit.run(&job).await;
    assert!(
        answer.is_ok(),
        "slot freed at the end of the stream: {answer:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_limit_grows_while_it_is_used_and_calls_succeed() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(1)));
    let config = ConcurrencyConfig::default()
        .with_in_flight(1, 2, 10)
        .with_max_wait(Duration::from_secs(60));
    let limit = ConcurrencyLimit::new(mock.clone(), config);
    let job = job("dall-e-2");

    let calls = (0..8).map(|_| limit.run(&job));
    let answers = futures_util_join_all(calls).await;

    assert!(answers.iter().all(Result::is_ok));
    let grown = reading(&limit, "dall-e-2").limit;
    assert!(grown > 2 && grown <= 10, "grew from 2 to {grown}");
}

#[tokio::test(start_paused = true)]
async fn a_429_shrinks_the_limit_and_pauses_the_model_instead_of_each_caller_hitting_it() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_millis(100)));
    mock.push(MockStep::rate_limited(Duration::from_secs(10)));
    let config = ConcurrencyConfig::default()
        .with_in_flight(1, 10, 10)
        .with_max_wait(Duration::from_secs(60));
    let limit = ConcurrencyLimit::new(mock.clone(), config);
    let job = job("dall-e-2");

    let throttled = limit.run(&job).await;
    assert_eq!(
        throttled.expect_err("429").code(),
        ErrorCode::UpstreamRateLimited
    );
    let after = reading(&limit, "dall-e-2");
    assert_eq!(after.limit, 7, "10 × 0.7");
    assert_eq!(after.paused_for, Duration::from_secs(10));

    let (answers, took) = timed(futures_util_join_all((0..3).map(|_| limit.run(&job)))).await;

    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert!(
        took >= Duration::from_secs(10),
        "held until the pause ended: {took:?}"
    );
    assert_eq!(mock.calls(), 4, "nobody called into the pause");
}

#[tokio::test(start_paused = true)]
async fn the_upstreams_remaining_requests_are_a_budget_until_the_reset() {
    let mock = Arc::new(MockProvider::new().with_latency(Duration::from_millis(10)));
    let config = ConcurrencyConfig::default().with_max_wait(Duration::from_secs(60));
    let limit = ConcurrencyLimit::new(mock.clone(), config);
    let job = job("dall-e-2");
    limit.gates().observe_quota(
        "dall-e-2",
        &UpstreamQuota {
            remaining_requests: Some(2),
            limit_requests: Some(100),
            reset_requests: Some(Duration::from_secs(6)),
            ..UpstreamQuota::default()
        },
    );

    let started = Instant::now();
    let mut finished = Vec::new();
    let calls = (0..4).map(|_| async {
        limit.run(&job).await.expect("served");
        started.elapsed()
    });
    finished.extend(futures_util_join_all(calls).await);
    finished.sort();

    assert!(
        finished[1] < Duration::from_secs(1),
        "two within the budget: {finished:?}"
    );
    assert!(
        finished[2] >= Duration::from_secs(6),
        "the rest after the reset: {finished:?}"
    );
}

#[test]
fn reads_its_config_in_milliseconds_and_refuses_a_bad_factor() {
    let config: ConcurrencyConfig =
        serde_json::from_str(r#"{"max_in_flight": 2, "max_wait": 1500}"#).expect("valid");
    assert_eq!(config.max_in_flight, 2);
    assert_eq!(config.max_queue, 10_000);
    assert_eq!(config.max_wait, Duration::from_millis(1500));
    assert!(serde_json::from_str::<ConcurrencyConfig>(r#"{"queue": 1}"#).is_err());
    let bad = ConcurrencyConfig {
        decrease_factor: 1.5,
        ..ConcurrencyConfig::default()
    };
    assert_eq!(
        bad.validate().expect_err("refused").param(),
        Some("concurrency.decrease_factor")
    );
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_util_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
