//! Webhook delivery: signed approval notifications POSTed to the bundle's `[hitl] webhook_url`
//! in the background, so a chat bridge can page reviewers; incident notices go the same way
//! (`crate::incidents`, to `[incidents] webhook_url` or, without one, `[hitl]`'s).
//!
//! Notifications queue on a bounded channel (a full queue drops the newest, with a warning and
//! a metric: paging reviewers must never slow a decision down) and are delivered by a
//! background task, a few at a time, each with bounded retries. The body is the notification's
//! JSON; the `Tribune-Signature` header is `tribune_approvals::webhook::sign` over it with the
//! key read from the environment variable the bundle names, at delivery time (so rotating the
//! key needs no reload). A delivery is never part of a decision: failures are logged and
//! counted, never answered.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Semaphore, mpsc};
use tribune_approvals::webhook::{Notification, SIGNATURE_HEADER, WebhookKey, sign};

use crate::metrics::ResultLabels;

/// Notifications waiting to be delivered, at most.
const QUEUE: usize = 1024;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 8;
/// Attempts per notification, the first included.
const ATTEMPTS: u32 = 4;
/// The wait before the second attempt; doubled for each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One notification to one webhook: its type and id (for logs) and the exact body to sign.
struct Delivery {
    url: String,
    secret_env: String,
    kind: &'static str,
    id: String,
    body: Vec<u8>,
}

/// The sending side of the delivery queue.
pub struct Webhooks {
    queue: mpsc::Sender<Delivery>,
    deliveries: Family<ResultLabels, Counter>,
}

impl Webhooks {
    /// Starts the delivery task; `deliveries` counts notifications by result (`ok`, `failed`,
    /// `dropped`). The task ends when this value is dropped.
    pub fn spawn(deliveries: Family<ResultLabels, Counter>) -> Webhooks {
        let (queue, mut rx) = mpsc::channel::<Delivery>(QUEUE);
        let counters = deliveries.clone();
        tokio::spawn(async move {
            let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the webhook client; notifications are off");
                    return;
                }
            };
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            while let Some(delivery) = rx.recv().await {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let client = client.clone();
                let counters = counters.clone();
                tokio::spawn(async move {
                    let result = if deliver(&client, &delivery).await {
                        "ok"
                    } else {
                        "failed"
                    };
                    counters.get_or_create(&ResultLabels { result }).inc();
                    drop(permit);
                });
            }
        });
        Webhooks { queue, deliveries }
    }

    /// Queues `notification` for `hook`; never waits.
    pub fn send(&self, hook: &tribune_bundle::Webhook, notification: Notification) {
        let kind = match &notification.event {
            tribune_approvals::webhook::Event::Created(_) => "approval.created",
            tribune_approvals::webhook::Event::Resolved(_) => "approval.resolved",
            tribune_approvals::webhook::Event::PoolSaturated(_) => "approval.pool_saturated",
        };
        match notification.body() {
            Ok(body) => {
                self.send_body(hook, kind, notification.id.as_str().to_owned(), body);
            }
            Err(e) => tracing::error!(error = %e, "cannot serialize a webhook notification"),
        }
    }

    /// Queues `body`, a notification of type `kind` with id `id` already serialized, for `hook`;
    /// never waits. Incidents are announced this way. Returns whether it was queued (a full
    /// queue drops it).
    pub fn send_body(
        &self,
        hook: &tribune_bundle::Webhook,
        kind: &'static str,
        id: String,
        body: Vec<u8>,
    ) -> bool {
        let delivery = Delivery {
            url: hook.url.clone(),
            secret_env: hook.secret_env.clone(),
            kind,
            id,
            body,
        };
        if self.queue.try_send(delivery).is_err() {
            tracing::warn!(url = %hook.url, "the webhook queue is full; a notification was dropped");
            self.deliveries
                .get_or_create(&ResultLabels { result: "dropped" })
                .inc();
            return false;
        }
        true
    }
}

/// Delivers one notification with retries; whether the receiver took it.
async fn deliver(client: &reqwest::Client, d: &Delivery) -> bool {
    let kind = d.kind;
    let key = match std::env::var(&d.secret_env) {
        Ok(secret) => match WebhookKey::new(secret.as_bytes()) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(env = %d.secret_env, error = %e, "the webhook key is unusable; notification not sent");
                return false;
            }
        },
        Err(_) => {
            tracing::error!(env = %d.secret_env, "the webhook key's environment variable is not set; notification not sent");
            return false;
        }
    };
    let body = &d.body;
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        // Signed per attempt: the timestamp is part of what the receiver checks for freshness.
        let signature = sign(&key, crate::state::now_ms().div_euclid(1000), body);
        let sent = client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(url = %d.url, kind, id = %d.id, attempt, "webhook delivered");
                return true;
            }
            Ok(r) => {
                tracing::warn!(url = %d.url, kind, status = r.status().as_u16(), attempt, "webhook refused")
            }
            Err(e) => tracing::warn!(url = %d.url, kind, error = %e, attempt, "webhook unreachable"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    tracing::error!(url = %d.url, kind, id = %d.id, "webhook delivery failed after {ATTEMPTS} attempts");
    false
}
