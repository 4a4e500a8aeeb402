//! Budgets over HTTP: the remaining budget on answers, `budget_exceeded` with its figures and
//! `x-should-retry: false`, the quality downgrade past the soft threshold, and `GET /usage`.

use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use serde_json::{json, Value};

use crate::helpers::json_of;

/// A mock-provider server whose users may spend $0.04 a month (two dall-e-2 256x256 images
/// and a half).
async fn budgeted(tweak: fn(&mut artgen_http::settings::Settings)) -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak,
        ..TestOptions::default()
    })
    .await
}

fn forty_cents(settings: &mut artgen_http::settings::Settings) {
    settings.budget.usd_per_month = Some(0.04);
}

fn small() -> Value {
    json!({"model": "dall-e-2", "prompt": "a kite", "size": "256x256"})
}

#[tokio::test]
async fn answers_say_what_remains_until_the_budget_refuses_with_its_figures() {
    let app = budgeted(forty_cents).await;

    let first = app.generate(Some(&app.user_key), &small()).await;
    let second = app.generate(Some(&app.user_key), &small()).await;
    let third = app.generate(Some(&app.user_key), &small()).await;
    let other = app.generate(Some(&app.other_key), &small()).await;

    let left = |r: &reqwest::Response| {
        r.headers()
            .get("x-artgen-budget-remaining-usd")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(first.status(), 200);
    assert_eq!(left(&first).as_deref(), Some("0.024000"));
    assert_eq!(left(&second).as_deref(), Some("0.008000"));
    assert_eq!(other.status(), 200, "another user's budget is their own");
    assert_eq!(third.status(), 429);
    assert_eq!(
        third
            .headers()
            .get("x-should-retry")
            .and_then(|v| v.to_str().ok()),
        Some("false")
    );
    let body = json_of(third).await;
    let error = &body["error"];
    assert_eq!(error["code"], "budget_exceeded");
    assert_eq!(error["type"], "insufficient_quota");
    assert_eq!(error["limit_usd"], 0.04);
    assert_eq!(error["spent_usd"], 0.032);
    assert_eq!(error["requested_usd"], 0.016);
    assert!(
        error["resets_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("T00:00:00Z")),
        "{body}"
    );
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.contains("$0.040000") && message.contains("resets at"),
        "{message}"
    );
}

#[tokio::test]
async fn usage_shows_the_callers_own_month_and_what_remains() {
    let app = budgeted(forty_cents).await;
    for _ in 0..2 {
        let answer = app.generate(Some(&app.user_key), &small()).await;
        assert_eq!(answer.status(), 200);
    }
    let _theirs = app.generate(Some(&app.other_key), &small()).await;

    let mine = json_of(app.get("/usage", Some(&app.user_key)).await).await;
    let v1 = app.get("/v1/usage", Some(&app.user_key)).await;
    let anonymous = app.get("/usage", None).await;

    assert_eq!(mine["requests"], 2, "{mine}");
    assert_eq!(mine["images"], 2);
    assert_eq!(mine["cost_usd"], 0.032);
    assert_eq!(mine["budget_usd_per_month"], 0.04);
    assert_eq!(mine["spent_usd"], 0.032);
    assert_eq!(mine["reserved_usd"], 0.0);
    assert_eq!(mine["remaining_usd"], 0.008);
    assert_eq!(mine["budget_tokens_per_month"], Value::Null);
    assert_eq!(mine["remaining_tokens"], Value::Null);
    assert!(mine["resets_at"].as_str().is_some_and(|t| t.ends_with("Z")));
    assert_eq!(v1.status(), 200);
    assert_eq!(anonymous.status(), 401);
}

fn downgrading(settings: &mut artgen_http::settings::Settings) {
    // gpt-image-1 high 1024x1024 is about $0.167, medium about $0.042.
    settings.budget.usd_per_month = Some(0.25);
    settings.budget.soft_threshold = 0.5;
    settings.budget.downgrade_quality = true;
}

#[tokio::test]
async fn past_the_soft_threshold_high_is_made_at_medium_and_the_answer_says_so() {
    let app = budgeted(downgrading).await;
    let high = json!({
        "model": "gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024",
        "quality": "high", "response_format": "url",
    });

    let first = app.generate(Some(&app.user_key), &high).await;
    let second = app.generate(Some(&app.user_key), &high).await;

    assert_eq!(first.status(), 200);
    assert!(first.headers().get("x-artgen-quality-downgraded").is_none());
    assert_eq!(second.status(), 200, "made at medium, it fits");
    assert_eq!(
        second
            .headers()
            .get("x-artgen-quality-downgraded")
            .and_then(|v| v.to_str().ok()),
        Some("high->medium")
    );
    let warned = second
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|w| w.contains("high to medium"));
    assert!(warned, "a Warning says so");
    let second = json_of(second).await;
    assert_eq!(
        second["quality_downgraded"], "high->medium",
        "and a field: {second}"
    );
    let first = json_of(first).await;
    assert!(first.get("quality_downgraded").is_none(), "{first}");
}

#[tokio::test]
async fn an_admin_reads_a_users_budget_with_their_own_limit_or_the_default() {
    let app = budgeted(forty_cents).await;
    for _ in 0..2 {
        assert_eq!(
            app.generate(Some(&app.user_key), &small()).await.status(),
            200
        );
    }
    let budget = |key: String| {
        let app = &app;
        async move { app.get("/admin/users/lisa/budget", Some(&key)).await }
    };
    let answer = budget(app.admin_key.clone()).await;
    assert_eq!(answer.status(), 200);
    let body = json_of(answer).await;
    assert_eq!(body["budget_usd_per_month"], 0.04, "the default: {body}");
    assert_eq!(body["spent_usd"], 0.032);
    assert_eq!(body["remaining_usd"], 0.008);
    assert!(
        body["resets_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("-01T00:00:00Z")),
        "{body}"
    );

    // Her own limit replaces the default.
    let set = app
        .client
        .put(format!("{}/admin/users/lisa/limits", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(json!({"budget_usd_per_month": 1.5}).to_string())
        .send()
        .await
        .expect("reachable");
    assert_eq!(set.status(), 200);
    let body = json_of(budget(app.admin_key.clone()).await).await;
    assert_eq!(body["budget_usd_per_month"], 1.5, "{body}");
    assert_eq!(body["remaining_usd"], 1.468);

    // Someone with no row and no usage has the default and all of it.
    let nobody = json_of(
        app.get("/admin/users/nobody/budget", Some(&app.admin_key))
            .await,
    )
    .await;
    assert_eq!(
        (nobody["spent_usd"].clone(), nobody["remaining_usd"].clone()),
        (json!(0.0), json!(0.04))
    );
    assert_eq!(budget(app.user_key.clone()).await.status(), 403);
    assert_eq!(
        app.get("/admin/users/lisa/budget", None).await.status(),
        401
    );
}
