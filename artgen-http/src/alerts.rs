//! Alert webhooks: events such as a budget's soft threshold being crossed, POSTed as JSON to an
//! operator's URL, signed, retried, and bounded.
//!
//! - **Signed:** `x-artgen-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//!   under `alerts.webhook_secret`, so a receiver checks both origin and freshness (reject a
//!   `t` more than a few minutes old). `x-artgen-event` names the event, `x-artgen-delivery`
//!   is the delivery's id (the same on every retry: receivers deduplicate by it).
//! - **Retried:** a connection error, a timeout, a 429 or a 5xx is retried with exponential
//!   backoff up to `alerts.max_attempts`; any other answer ends the delivery.
//! - **Bounded:** events wait in a queue of `alerts.queue` deliveries sent one at a time by one
//!   task; when it is full, a new event is dropped and counted, never waited for, so a slow
//!   or dead receiver costs the request path nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::mpsc;

/// `[alerts]`: where alert events are sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// The URL events are POSTed to (unset: no webhook; events are still logged and counted).
    pub webhook_url: Option<String>,
    /// The signing secret (required with a URL). `Debug` and `artgen config` never show it.
    #[serde(serialize_with = "redacted")]
    pub webhook_secret: Option<SecretString>,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// The first retry's delay, milliseconds; each further one doubles it (at most 60 s).
    pub retry_base_ms: u64,
    /// Timeout of one attempt, milliseconds.
    pub timeout_ms: u64,
    /// Deliveries waiting at most; beyond, new events are dropped (and counted).
    pub queue: usize,
}

fn redacted<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some("[redacted]"),
        None => serializer.serialize_none(),
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret: None,
            max_attempts: 5,
            retry_base_ms: 1000,
            timeout_ms: 5000,
            queue: 1000,
        }
    }
}

/// Why the webhook cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// A URL without a secret: receivers could not tell our events from anyone's.
    #[error("alerts.webhook_url is set but alerts.webhook_secret is not")]
    MissingSecret,
    /// The URL does not parse or is not http(s).
    #[error("alerts.webhook_url is not an http(s) URL")]
    BadUrl,
    /// The HTTP client cannot be built.
    #[error("cannot build the webhook's HTTP client")]
    Client(#[source] reqwest::Error),
}

struct Delivery {
    id: String,
    event: &'static str,
    body: String,
}

/// Sends alert events to the configured webhook from one background task.
#[derive(Debug)]
pub struct Webhook {
    tx: mpsc::Sender<Delivery>,
    dropped: AtomicU64,
}

impl Webhook {
    /// Starts the sender on the current runtime, or `Ok(None)` when no URL is configured.
    ///
    /// # Errors
    /// A URL without a secret, a URL that is not http(s), or a client that cannot be built.
    pub fn start(config: &AlertsConfig) -> Result<Option<Arc<Self>>, AlertsError> {
        let Some(url) = config.webhook_url.as_deref() else {
            return Ok(None);
        };
        let secret = config
            .webhook_secret
            .clone()
            .ok_or(AlertsError::MissingSecret)?;
        let url = reqwest::Url::parse(url).map_err(|_| AlertsError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AlertsError::BadUrl);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AlertsError::Client)?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let sender = Sender {
            client,
            url,
            secret,
            attempts: config.max_attempts.max(1),
            base: Duration::from_millis(config.retry_base_ms),
        };
        tokio::spawn(sender.run(rx));
        Ok(Some(Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
        })))
    }

    /// Queues `data` as event `event` (e.g. `budget.threshold_crossed`) without waiting; drops
    /// it when the queue is full.
    pub fn send(&self, event: &'static str, data: serde_json::Value) {
        let id = uuid::Uuid::new_v4().to_string();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let body = serde_json::json!({
            "id": id,
            "type": event,
            "created": created,
            "data": data,
        })
        .to_string();
        if self.tx.try_send(Delivery { id, event, body }).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                event,
                dropped,
                "the alert webhook's queue is full (or its sender stopped); event dropped"
            );
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: SecretString,
    attempts: u32,
    base: Duration,
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Delivery>) {
        while let Some(delivery) = rx.recv().await {
            self.deliver(&delivery).await;
        }
    }

    async fn deliver(&self, delivery: &Delivery) {
        let mut delay = self.base;
        for attempt in 1..=self.attempts {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("x-artgen-event", delivery.event)
                .header("x-artgen-delivery", &delivery.id)
                .header(
                    "x-artgen-signature",
                    signature(self.secret.expose_secret(), now, &delivery.body),
                )
                .body(delivery.body.clone())
                .send()
                .await;
            let retry = match &sent {
                Ok(answer) if answer.status().is_success() => return,
                Ok(answer) => {
                    let status = answer.status();
                    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                }
                Err(_) => true,
            };
            let status = sent.as_ref().ok().map(|a| a.status().as_u16());
            if !retry || attempt == self.attempts {
                tracing::warn!(
                    event = delivery.event,
                    delivery = %delivery.id,
                    attempt,
                    status,
                    "the alert webhook did not take an event; it is dropped"
                );
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header_exists, method};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::*;

    fn config(url: &str) -> AlertsConfig {
        AlertsConfig {
            webhook_url: Some(url.to_owned()),
            webhook_secret: Some(SecretString::from("s3cret")),
            retry_base_ms: 10,
            ..AlertsConfig::default()
        }
    }

    async fn received(server: &MockServer, count: usize) -> Vec<Request> {
        for _ in 0..500 {
            let requests = server.received_requests().await.unwrap_or_default();
            if requests.len() >= count {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the webhook got fewer than {count} requests");
    }

    #[tokio::test]
    async fn an_event_is_signed_over_its_timestamp_and_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let hook = Webhook::start(&config(&server.uri()))
            .expect("starts")
            .expect("configured");
        hook.send(
            "budget.threshold_crossed",
            serde_json::json!({"user": "ann", "percent": 80}),
        );
        let got = received(&server, 1).await;
        let body = String::from_utf8(got[0].body.clone()).expect("utf-8");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(json["type"], "budget.threshold_crossed");
        assert_eq!(json["data"]["user"], "ann");
        let header = |name: &str| {
            got[0]
                .headers
                .get(name)
                .expect(name)
                .to_str()
                .expect("ascii")
                .to_owned()
        };
        assert_eq!(header("x-artgen-event"), "budget.threshold_crossed");
        assert_eq!(
            header("x-artgen-delivery"),
            json["id"].as_str().expect("id")
        );
        let signed = header("x-artgen-signature");
        let t: u64 = signed
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .expect("a timestamp");
        assert_eq!(signed, signature("s3cret", t, &body), "it verifies");
        assert_ne!(
            signed,
            signature("other", t, &body),
            "another secret does not"
        );
    }

    #[tokio::test]
    async fn a_failing_receiver_is_retried_with_the_same_delivery_id_until_it_takes_the_event() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(header_exists("x-artgen-signature"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let hook = Webhook::start(&config(&server.uri()))
            .expect("starts")
            .expect("on");
        hook.send("budget.threshold_crossed", serde_json::json!({}));
        let got = received(&server, 3).await;
        let ids: Vec<_> = got
            .iter()
            .map(|r| r.headers.get("x-artgen-delivery").cloned())
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] == w[1]),
            "one delivery id: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            server.received_requests().await.unwrap_or_default().len(),
            3,
            "no attempt after the success"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_attempts_are_bounded() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400))
            .mount(&server)
            .await;
        let hook = Webhook::start(&config(&server.uri()))
            .expect("starts")
            .expect("on");
        hook.send("a", serde_json::json!({}));
        received(&server, 1).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            server.received_requests().await.unwrap_or_default().len(),
            1
        );

        let down = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&down)
            .await;
        let hook = Webhook::start(&AlertsConfig {
            max_attempts: 3,
            ..config(&down.uri())
        })
        .expect("starts")
        .expect("on");
        hook.send("a", serde_json::json!({}));
        received(&down, 3).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            down.received_requests().await.unwrap_or_default().len(),
            3,
            "at most max_attempts"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_new_events_without_waiting() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let hook = Webhook::start(&AlertsConfig {
            queue: 2,
            ..config(&server.uri())
        })
        .expect("starts")
        .expect("on");
        let started = std::time::Instant::now();
        for _ in 0..10 {
            hook.send("a", serde_json::json!({}));
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "sending never waits"
        );
        // One in flight (maybe), two queued: the rest were dropped.
        assert!(hook.dropped() >= 7, "dropped {}", hook.dropped());
    }

    #[test]
    fn a_url_without_a_secret_or_of_another_scheme_is_refused() {
        let no_secret = AlertsConfig {
            webhook_url: Some("https://hooks.example/x".into()),
            ..AlertsConfig::default()
        };
        assert!(matches!(
            Webhook::start(&no_secret),
            Err(AlertsError::MissingSecret)
        ));
        let ftp = AlertsConfig {
            webhook_url: Some("ftp://hooks.example/x".into()),
            webhook_secret: Some(SecretString::from("s")),
            ..AlertsConfig::default()
        };
        assert!(matches!(Webhook::start(&ftp), Err(AlertsError::BadUrl)));
        assert!(matches!(Webhook::start(&AlertsConfig::default()), Ok(None)));
        let shown = format!("{:?}", config("https://h.example"));
        assert!(!shown.contains("s3cret"), "{shown}");
        let toml = toml::to_string(&config("https://h.example")).expect("serialises");
        assert!(!toml.contains("s3cret"), "{toml}");
    }
}
