//! Sending one delivery: the [`Deliverer`] trait (the `HOOK_DELIVERER` of
//! django-rest-hooks) and [`HttpDeliverer`], which POSTs with `reqwest`.

use std::time::Duration;

use async_trait::async_trait;

use crate::delivery::{Delivery, Settle};

/// Sends a delivery that a worker has leased from the queue, and says how it went.
///
/// Replace it to hand deliveries to the application's own job system: return
/// [`Settle::Delivered`] once the job system has taken it.
#[async_trait]
pub trait Deliverer: Send + Sync + 'static {
    /// Attempts `delivery` once.
    async fn deliver(&self, delivery: &Delivery) -> Settle;
}

/// The default [`Deliverer`]: an HTTP POST of the payload as JSON, over one pooled
/// client that follows no redirects.
#[derive(Debug, Clone)]
pub struct HttpDeliverer {
    client: reqwest::Client,
}

impl HttpDeliverer {
    /// A deliverer whose attempts time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Deliverer for HttpDeliverer {
    async fn deliver(&self, delivery: &Delivery) -> Settle {
        let response = self
            .client
            .post(&delivery.target)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(delivery.payload.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => Settle::Delivered,
            Ok(response) => {
                tracing::warn!(delivery = %delivery.id, status = %response.status(), "delivery refused");
                Settle::Failed
            }
            Err(error) => {
                tracing::warn!(delivery = %delivery.id, %error, "delivery failed");
                Settle::Failed
            }
        }
    }
}
