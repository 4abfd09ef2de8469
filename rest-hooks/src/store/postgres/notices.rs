//! How the processes that share a PostgreSQL schema tell each other what changed:
//! `LISTEN` on a connection of its own, relayed as [`Notice`]s, and the throttled
//! `queued` notification.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::store::Notice;

/// How often at most [`PgStore::enqueue`](super::PgStore) notifies: a burst of firing costs one
/// notification a window, not one an event, and an idle worker elsewhere still
/// wakes within the window.
pub(super) const NOTIFY_WINDOW: Duration = Duration::from_millis(5);

/// Sends a `queued` notification for each request, and one for all the requests
/// made during the window after it; ends when every store handle is dropped.
pub(super) async fn announce(pool: PgPool, channel: String, mut requests: mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        let notified = sqlx::query("SELECT pg_notify($1, 'queued')")
            .bind(&channel)
            .execute(&pool)
            .await;
        if let Err(error) = notified {
            tracing::warn!(%error, "could not tell other processes of queued deliveries; they find them when they poll");
        }
        tokio::time::sleep(NOTIFY_WINDOW).await;
    }
}

pub(super) async fn listen(pool: &PgPool, channel: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is replaced by `relay`, which says that notices were lost.
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Passes notifications on as notices until nobody receives them. A lost connection
/// is replaced, with backoff, by a new one that listens again, and reported as
/// [`Notice::Missed`]: what was notified in between is lost.
pub(super) async fn relay(
    mut listener: PgListener,
    pool: PgPool,
    channel: String,
    notices: mpsc::Sender<Notice>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(30));
    loop {
        let lost = loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = notices.closed() => return,
            };
            match received {
                Ok(Some(notification)) => match parse_notice(notification.payload()) {
                    Some(notice) => {
                        if notices.send(notice).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        tracing::debug!(payload = notification.payload(), "ignored a notification");
                    }
                },
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        tracing::warn!(error = ?lost, "lost the connection that listens for other processes' changes");
        drop(listener);
        listener = loop {
            tokio::select! {
                () = tokio::time::sleep(backoff.next_wait()) => {}
                () = notices.closed() => return,
            }
            match listen(&pool, &channel).await {
                Ok(listener) => break listener,
                Err(error) => tracing::warn!(%error, "could not listen again yet"),
            }
        };
        backoff.reset();
        if notices.send(Notice::Missed).await.is_err() {
            return;
        }
    }
}

/// `queued`, or `hook <id>`, as `0004_notify.sql` sends them.
fn parse_notice(payload: &str) -> Option<Notice> {
    match payload.split_once(' ') {
        None if payload == "queued" => Some(Notice::Queued),
        Some(("hook", id)) => id.parse().ok().map(Notice::Hook),
        _ => None,
    }
}
