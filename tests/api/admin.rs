//! The admin API: admins only (403 for users, 401 without a key), errors naming the bad
//! parameter, usage as JSON and CSV, limits and disabling that apply to the next request, and
//! an audit row for every change.

use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use serde_json::{json, Value};

use crate::helpers::{assert_error, body, json_of};

async fn app() -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await
}

/// A request with a JSON body (or none) and an optional bearer key.
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.expect("server reachable")
}

/// Every admin route, with a body where it takes one.
fn routes() -> Vec<(reqwest::Method, &'static str, Option<Value>)> {
    use reqwest::Method;
    vec![
        (Method::GET, "/admin/usage?group_by=user", None),
        (Method::POST, "/admin/users", Some(json!({"user": "zed"}))),
        (Method::GET, "/admin/users", None),
        (Method::GET, "/admin/users/lisa", None),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"rate_limit_burst": 3})),
        ),
        (Method::POST, "/admin/users/lisa/disable", None),
        (Method::POST, "/admin/users/lisa/enable", None),
        (
            Method::PUT,
            "/admin/orgs/acme/limits",
            Some(json!({"budget_usd_per_month": 5})),
        ),
        (Method::POST, "/admin/keys", Some(json!({"user": "zed"}))),
        (Method::GET, "/admin/keys", None),
        (Method::DELETE, "/admin/keys/ag_live_Ab12Cd34", None),
        (Method::GET, "/admin/audit", None),
    ]
}

#[tokio::test]
async fn users_get_403_and_callers_without_a_key_get_401_on_every_admin_route() {
    let app = app().await;
    for (method, path, body) in routes() {
        let forbidden = send(
            &app,
            method.clone(),
            path,
            Some(&app.user_key),
            body.clone(),
        )
        .await;
        assert_eq!(forbidden.status(), 403, "{method} {path}");
        assert_error(&json_of(forbidden).await, "forbidden", None);

        let anonymous = send(&app, method.clone(), path, None, body).await;
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        assert_error(&json_of(anonymous).await, "invalid_api_key", None);
    }
    let audit = send(
        &app,
        reqwest::Method::GET,
        "/admin/audit",
        Some(&app.admin_key),
        None,
    )
    .await;
    assert_eq!(
        json_of(audit).await["entries"],
        json!([]),
        "nothing changed"
    );
}

#[tokio::test]
async fn bad_input_is_400_naming_the_param() {
    let app = app().await;
    let admin = Some(app.admin_key.as_str());
    use reqwest::Method;
    let cases = [
        (Method::GET, "/admin/usage", None, "group_by"),
        (Method::GET, "/admin/usage?group_by=week", None, "group_by"),
        (
            Method::GET,
            "/admin/usage?group_by=day&from=yesterday",
            None,
            "from",
        ),
        (
            Method::GET,
            "/admin/usage?group_by=day&to=2026-02-30",
            None,
            "to",
        ),
        (
            Method::GET,
            "/admin/usage?group_by=day&from=2026-03-02&to=2026-03-01",
            None,
            "to",
        ),
        (
            Method::GET,
            "/admin/usage?group_by=day&format=xml",
            None,
            "format",
        ),
        (
            Method::GET,
            "/admin/usage?group_by=day&colour=red",
            None,
            "colour",
        ),
        (Method::GET, "/admin/audit?limit=0", None, "limit"),
        (Method::GET, "/admin/audit?from=2026-13-01", None, "from"),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"budget_usd_per_month": -1})),
            "budget_usd_per_month",
        ),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"budget_tokens_per_month": -5})),
            "budget_tokens_per_month",
        ),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"rate_limit_per_minute": 0})),
            "rate_limit_per_minute",
        ),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"rate_limit_burst": "ten"})),
            "rate_limit_burst",
        ),
        (
            Method::PUT,
            "/admin/users/lisa/limits",
            Some(json!({"budget": 5})),
            "budget",
        ),
        (
            Method::PUT,
            "/admin/orgs/acme/limits",
            Some(json!({"rate_limit_burst": 5})),
            "rate_limit_burst",
        ),
        (
            Method::POST,
            "/admin/users",
            Some(json!({"org": "acme"})),
            "user",
        ),
        (
            Method::POST,
            "/admin/users",
            Some(json!({"user": ""})),
            "user",
        ),
        (
            Method::POST,
            "/admin/keys",
            Some(json!({"user": "zed", "role": "root"})),
            "role",
        ),
    ];
    for (method, path, body, param) in cases {
        let response = send(&app, method.clone(), path, admin, body).await;
        assert_eq!(response.status(), 400, "{method} {path}");
        let body = json_of(response).await;
        assert_eq!(body["error"]["param"], param, "{method} {path}: {body}");
    }
    let missing = send(&app, Method::GET, "/admin/users/nobody", admin, None).await;
    assert_eq!(missing.status(), 404);
    let unknown_key = send(
        &app,
        Method::DELETE,
        "/admin/keys/ag_live_Ab12Cd34",
        admin,
        None,
    )
    .await;
    assert_eq!(unknown_key.status(), 404);
    assert_error(&json_of(unknown_key).await, "not_found", Some("public_id"));
}

#[tokio::test]
async fn usage_as_csv_holds_the_same_rows_as_json() {
    let app = app().await;
    for key in [&app.user_key, &app.user_key, &app.other_key] {
        let response = app.generate(Some(key), &body("dall-e-2", "256x256")).await;
        assert_eq!(response.status(), 200);
    }
    let admin = Some(app.admin_key.as_str());
    let path = "/admin/usage?group_by=user";

    let rows =
        json_of(send(&app, reqwest::Method::GET, path, admin, None).await).await["rows"].clone();
    let csv = send(
        &app,
        reqwest::Method::GET,
        &format!("{path}&format=csv"),
        admin,
        None,
    )
    .await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/csv"));
    let text = csv.text().await.expect("text");
    let accepted = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("reachable")
        .text()
        .await
        .expect("text");

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, ["key", "requests", "images", "tokens", "cost_usd"]);
    let parsed: Vec<Value> = reader
        .records()
        .map(|r| {
            let r = r.expect("a record");
            json!({
                "key": &r[0],
                "requests": r[1].parse::<u64>().expect("n"),
                "images": r[2].parse::<u64>().expect("n"),
                "tokens": r[3].parse::<u64>().expect("n"),
                "cost_usd": r[4].parse::<f64>().expect("usd"),
            })
        })
        .collect();
    let rows = rows.as_array().expect("rows").clone();
    assert_eq!(parsed, rows);
    assert_eq!(accepted, text, "Accept: text/csv is format=csv");
    let lisa = rows
        .iter()
        .find(|r| r["key"] == "lisa")
        .expect("lisa's row");
    assert_eq!(lisa["requests"], 2);
    assert!(lisa["cost_usd"].as_f64().expect("a number") > 0.0);
}

#[tokio::test]
async fn a_lower_rate_limit_applies_to_the_users_next_request_and_is_audited() {
    let app = app().await;
    let request = body("dall-e-2", "256x256");
    let generate = || app.generate(Some(&app.user_key), &request);
    assert_eq!(
        generate().await.status(),
        200,
        "cached with the default limit"
    );

    let set = send(
        &app,
        reqwest::Method::PUT,
        "/admin/users/lisa/limits",
        Some(&app.admin_key),
        Some(json!({"rate_limit_per_minute": 1, "rate_limit_burst": 1})),
    )
    .await;
    assert_eq!(set.status(), 200);
    let row = json_of(set).await;
    assert_eq!(row["limits"]["rate_limit_per_minute"], 1);
    assert_eq!(row["limits"]["budget_usd_per_month"], Value::Null);

    assert_eq!(generate().await.status(), 200, "the new bucket's one unit");
    let refused = generate().await;
    assert_eq!(refused.status(), 429);
    assert_error(&json_of(refused).await, "rate_limit_exceeded", None);
    let other = app
        .generate(Some(&app.other_key), &body("dall-e-2", "256x256"))
        .await;
    assert_eq!(other.status(), 200, "other users keep the default");

    let audit = json_of(
        send(
            &app,
            reqwest::Method::GET,
            "/admin/audit?target=lisa",
            Some(&app.admin_key),
            None,
        )
        .await,
    )
    .await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "user.limits.set");
    assert_eq!(entry["actor"], "admin");
    assert!(entry["credential_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("ag_test_")));
}

#[tokio::test]
async fn a_disabled_users_key_is_refused_at_once_and_works_again_when_enabled() {
    let app = app().await;
    let request = body("dall-e-2", "256x256");
    let generate = || app.generate(Some(&app.user_key), &request);
    assert_eq!(generate().await.status(), 200);

    let disabled = send(
        &app,
        reqwest::Method::POST,
        "/admin/users/lisa/disable",
        Some(&app.admin_key),
        None,
    )
    .await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(json_of(disabled).await["disabled"], true);
    let refused = generate().await;
    assert_eq!(refused.status(), 401);
    assert_error(&json_of(refused).await, "invalid_api_key", None);

    let enabled = send(
        &app,
        reqwest::Method::POST,
        "/admin/users/lisa/enable",
        Some(&app.admin_key),
        None,
    )
    .await;
    assert_eq!(enabled.status(), 200);
    assert_eq!(generate().await.status(), 200);
}

#[tokio::test]
async fn users_keys_and_orgs_are_managed_and_every_change_audited() {
    let app = app().await;
    let admin = Some(app.admin_key.as_str());
    use reqwest::Method;

    let created = send(
        &app,
        Method::POST,
        "/admin/users",
        admin,
        Some(json!({"user": "zed", "org": "acme"})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let again = send(
        &app,
        Method::POST,
        "/admin/users",
        admin,
        Some(json!({"user": "zed"})),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(json_of(again).await["org"], "acme", "unchanged");
    let listed = json_of(send(&app, Method::GET, "/admin/users", admin, None).await).await;
    assert_eq!(listed["users"][0]["user"], "zed");
    let org = send(
        &app,
        Method::PUT,
        "/admin/orgs/acme/limits",
        admin,
        Some(json!({"budget_usd_per_month": 12.5})),
    )
    .await;
    assert_eq!(org.status(), 200);
    assert_eq!(json_of(org).await["limits"]["budget_usd_per_month"], 12.5);

    let key = send(
        &app,
        Method::POST,
        "/admin/keys",
        admin,
        Some(json!({"user": "zed"})),
    )
    .await;
    assert_eq!(key.status(), 201);
    let key = json_of(key).await;
    let secret = key["key"].as_str().expect("the key").to_owned();
    let public_id = key["public_id"].as_str().expect("the id").to_owned();
    assert_eq!(key["role"], "user");
    assert_eq!(
        app.generate(Some(&secret), &body("dall-e-2", "256x256"))
            .await
            .status(),
        200
    );

    let keys = send(&app, Method::GET, "/admin/keys?user=zed", admin, None).await;
    let text = keys.text().await.expect("text");
    assert!(
        !text.contains(&secret[public_id.len()..]),
        "no secret in a listing"
    );
    let keys: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(keys["keys"][0]["public_id"], public_id.as_str());
    assert!(keys["keys"][0]["created_at_ms"].as_i64().is_some());
    assert!(
        keys["keys"][0]["last_used_at_ms"].as_i64().is_some(),
        "used once"
    );

    let revoked = send(
        &app,
        Method::DELETE,
        &format!("/admin/keys/{public_id}"),
        admin,
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        app.generate(Some(&secret), &body("dall-e-2", "256x256"))
            .await
            .status(),
        401
    );

    let audit = json_of(send(&app, Method::GET, "/admin/audit", admin, None).await).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "key.revoked",
            "key.created",
            "org.limits.set",
            "user.created"
        ]
    );
    assert!(
        !audit.to_string().contains(&secret),
        "no secret in the audit trail"
    );
}
