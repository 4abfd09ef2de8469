//! Sending one delivery: the [`Deliverer`] trait (the `HOOK_DELIVERER` of
//! django-rest-hooks) and [`HttpDeliverer`], which POSTs it, signed, with `reqwest`.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use tokio::sync::Semaphore;

use super::lock;
use super::sign::signature_header;
use super::{RESPONSE_BODY_LIMIT, Sent};
use crate::queue::{AttemptResult, Outgoing};
use crate::target_policy::{NotAllowed, TargetPolicy};

/// Sends a delivery that a worker has leased from the queue, and says what came
/// back; the worker decides what follows (done, retry, give up, delete the hook).
///
/// Replace it to hand deliveries to the application's own job system: report a
/// 2xx status once the job system has taken the delivery.
#[async_trait]
pub trait Deliverer: Send + Sync + 'static {
    /// Attempts `outgoing` once.
    async fn deliver(&self, outgoing: &Outgoing) -> Sent;
}

/// The default [`Deliverer`]: a signed HTTP POST of the payload over one pooled
/// keep-alive client that follows no redirects and connects only to addresses the
/// [`TargetPolicy`] allows, with a bound on concurrent requests per target host.
#[derive(Debug)]
pub struct HttpDeliverer {
    client: reqwest::Client,
    policy: TargetPolicy,
    /// Whether requests go through an egress proxy, which resolves the target
    /// itself: the target is then resolved and checked here first.
    proxied: bool,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Targets seen before, by their URL as stored: parsing the URL for each
    /// attempt took 4 % of a delivery's CPU in the load test.
    targets: Mutex<HashMap<String, Target>>,
}

/// A target the policy allowed by its URL: parsed, with the permits of its host.
#[derive(Debug, Clone)]
struct Target {
    url: Url,
    permits: Arc<Semaphore>,
}

/// Targets kept parsed at most; past that the cache starts again empty (a hook's
/// old target, once it changed, is not asked for again).
const TARGETS_KEPT: usize = 10_000;

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("rest-hooks/", env!("CARGO_PKG_VERSION")));

impl HttpDeliverer {
    /// A deliverer under `policy` whose attempts time out after `timeout`, with at
    /// most `per_host` requests in flight to one host and port.
    pub fn new(
        policy: TargetPolicy,
        timeout: Duration,
        per_host: usize,
    ) -> Result<Self, reqwest::Error> {
        let client = policy
            .guarded_client(timeout)
            .pool_max_idle_per_host(per_host);
        Ok(Self {
            client: client.build()?,
            policy,
            proxied: false,
            per_host: per_host.max(1),
            hosts: Mutex::default(),
            targets: Mutex::default(),
        })
    }

    /// [`new`](Self::new), sending every request through the egress proxy at
    /// `proxy` (`http://proxy.internal:3128`). The target's host is still
    /// resolved and checked against `policy` before a request is handed to the
    /// proxy; the proxy resolves it again, so it must refuse private and internal
    /// destinations itself (see the README).
    pub fn with_proxy(
        policy: TargetPolicy,
        timeout: Duration,
        per_host: usize,
        proxy: &str,
    ) -> Result<Self, reqwest::Error> {
        let client = policy
            .guarded_client(timeout)
            .pool_max_idle_per_host(per_host)
            .proxy(reqwest::Proxy::all(proxy)?);
        Ok(Self {
            client: client.build()?,
            policy,
            proxied: true,
            per_host: per_host.max(1),
            hosts: Mutex::default(),
            targets: Mutex::default(),
        })
    }

    /// The target at `url`, parsed and checked by its URL once; `Err` with the
    /// attempt's result when it cannot be sent to.
    fn target(&self, url: &str) -> Result<Target, AttemptResult> {
        let known = lock(&self.targets).get(url).cloned();
        if let Some(target) = known {
            return Ok(target);
        }
        let parsed = Url::parse(url)
            .map_err(|error| AttemptResult::Error(format!("invalid target: {error}")))?;
        // Addresses written in the URL are not resolved, so the resolver never sees
        // them: they are checked here.
        self.policy
            .check_url(&parsed)
            .map_err(|reason| AttemptResult::NotAllowed(reason.to_string()))?;
        let target = Target {
            permits: self.host_permits(&parsed),
            url: parsed,
        };
        let mut targets = lock(&self.targets);
        if targets.len() >= TARGETS_KEPT {
            targets.clear();
        }
        targets.insert(url.to_owned(), target.clone());
        Ok(target)
    }

    /// The permits of `url`'s host and port: two services on one machine are two
    /// targets.
    fn host_permits(&self, url: &Url) -> Arc<Semaphore> {
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = lock(&self.hosts);
        if let Some(permits) = hosts.get(&host) {
            return Arc::clone(permits);
        }
        let permits = Arc::new(Semaphore::new(self.per_host));
        hosts.insert(host, Arc::clone(&permits));
        permits
    }

    async fn post(&self, url: Url, outgoing: &Outgoing) -> Sent {
        let delivery = &outgoing.delivery;
        let id = delivery.id.to_string();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature_header(&outgoing.secrets, &id, timestamp, &delivery.payload);
        let mut request = self.client.post(url);
        for (name, value) in &outgoing.headers {
            request = request.header(name, value);
        }
        let response = request
            .header(CONTENT_TYPE, JSON)
            .header(USER_AGENT, AGENT)
            .header(WEBHOOK_ID, id)
            .header(WEBHOOK_TIMESTAMP, timestamp)
            .header(WEBHOOK_SIGNATURE, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return failed(classify(&error)),
        };
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let status = response.status().as_u16();
        let mut body = Vec::new();
        // Most receivers answer with no body at all: nothing to wait for then.
        while body.len() < RESPONSE_BODY_LIMIT && response.content_length() != Some(0) {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                // A body that ends early or times out still leaves the status.
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(RESPONSE_BODY_LIMIT);
        Sent {
            result: AttemptResult::Status(status),
            response_body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
            retry_after,
        }
    }
}

#[async_trait]
impl Deliverer for HttpDeliverer {
    async fn deliver(&self, outgoing: &Outgoing) -> Sent {
        let Target { url, permits } = match self.target(&outgoing.delivery.target) {
            Ok(target) => target,
            Err(result) => return failed(result),
        };
        // Through a proxy, the guarded resolver is not asked: the host is
        // resolved and checked here, each time (what it resolves to may change).
        if self.proxied
            && let Err(reason) = self.policy.check(&url).await
        {
            return failed(AttemptResult::NotAllowed(reason.to_string()));
        }
        let Ok(_permit) = permits.acquire().await else {
            return failed(AttemptResult::Error("host limiter closed".to_owned()));
        };
        self.post(url, outgoing).await
    }
}

fn failed(result: AttemptResult) -> Sent {
    Sent {
        result,
        response_body: None,
        retry_after: None,
    }
}

fn classify(error: &reqwest::Error) -> AttemptResult {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NotAllowed>() {
            return AttemptResult::NotAllowed(refused.to_string());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        AttemptResult::Timeout
    } else if error.is_connect() {
        AttemptResult::Connect(innermost(error))
    } else {
        AttemptResult::Error(innermost(error))
    }
}

/// The message of the deepest cause: "Connection refused", not "error sending
/// request".
fn innermost(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}
