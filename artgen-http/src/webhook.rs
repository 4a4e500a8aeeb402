//! The budget webhook: a signed `POST` to the operator's URL when a request takes a budget past
//! its soft threshold, retried a few times, through a bounded queue (an alert never slows or
//! holds a request; when the queue is full the alert is dropped and logged).
//!
//! The body is `{"event":"budget_threshold_crossed","scope":"user"|"org","id":…,"percent":…,
//! "at":<unix secs>}`; `x-artgen-timestamp` is the same `at`, and `x-artgen-signature` is
//! `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>`. It carries no prompt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use artgen_core::domain::BudgetScope;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::mpsc;

/// Alerts waiting to be sent at most; more are dropped.
const QUEUE: usize = 256;
/// Attempts per alert.
const ATTEMPTS: u32 = 3;
/// One attempt's timeout.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One alert.
#[derive(Debug, Clone, Serialize)]
struct Alert {
    event: &'static str,
    scope: &'static str,
    id: String,
    percent: u64,
    at: u64,
}

/// The sending side of the webhook: cheap, never blocks.
#[derive(Debug, Clone)]
pub struct BudgetWebhook {
    tx: mpsc::Sender<Alert>,
}

impl BudgetWebhook {
    /// Starts the sender task posting to `url`, signing with `secret`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn start(url: String, secret: SecretString) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(TIMEOUT).build()?;
        let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE);
        tokio::spawn(async move {
            while let Some(alert) = rx.recv().await {
                deliver(&client, &url, &secret, &alert).await;
            }
        });
        Ok(Self { tx })
    }

    /// Queues the alert that `scope` crossed its soft threshold, standing at `percent`.
    pub fn crossed(&self, scope: &BudgetScope, percent: u64) {
        let alert = Alert {
            event: "budget_threshold_crossed",
            scope: scope.kind(),
            id: scope.id().to_owned(),
            percent,
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        if self.tx.try_send(alert).is_err() {
            tracing::warn!(
                scope = scope.kind(),
                "the budget webhook's queue is full; an alert is dropped"
            );
        }
    }
}

/// `sha256=<hex>` of `"<timestamp>.<body>"` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(client: &reqwest::Client, url: &str, secret: &SecretString, alert: &Alert) {
    let Ok(body) = serde_json::to_vec(alert) else {
        return;
    };
    let signed = signature(secret.expose_secret(), alert.at, &body);
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-artgen-timestamp", alert.at.to_string())
            .header("x-artgen-signature", &signed)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) if answer.status().is_client_error() => {
                tracing::warn!(
                    status = answer.status().as_u16(),
                    "the budget webhook refused an alert"
                );
                return;
            }
            Ok(answer) => tracing::warn!(
                attempt,
                status = answer.status().as_u16(),
                "the budget webhook failed"
            ),
            Err(err) => {
                tracing::warn!(attempt, error = %err, "the budget webhook cannot be reached")
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 4;
        }
    }
    tracing::error!(scope = alert.scope, "a budget alert could not be delivered");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;
    use axum::routing::post;

    use super::*;

    /// One request the test receiver got.
    type Received = (HeaderMap, Vec<u8>);

    #[tokio::test]
    async fn an_alert_is_posted_signed_and_retried_after_a_server_error() {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let mut log = log.lock().expect("log");
                    log.push((headers, body.to_vec()));
                    // The first attempt fails: the second must come.
                    if log.len() == 1 {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let hook = BudgetWebhook::start(
            format!("http://{address}/hook"),
            SecretString::from("s3cret"),
        )
        .expect("client");

        hook.crossed(&BudgetScope::Org("acme".into()), 83);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.lock().expect("log").len() < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let seen = seen.lock().expect("log");
        assert_eq!(seen.len(), 2, "retried once after the 503");
        let (headers, body) = &seen[1];
        let json: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(json["event"], "budget_threshold_crossed");
        assert_eq!(json["scope"], "org");
        assert_eq!(json["id"], "acme");
        assert_eq!(json["percent"], 83);
        let at = headers["x-artgen-timestamp"].to_str().expect("ascii");
        assert_eq!(at, json["at"].to_string());
        let expected = signature("s3cret", at.parse().expect("secs"), body);
        assert_eq!(headers["x-artgen-signature"], expected.as_str());
        assert!(!String::from_utf8_lossy(body).contains("s3cret"));
    }
}
