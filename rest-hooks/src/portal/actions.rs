//! The portal's actions: each a POST form with the session's CSRF token. One that
//! goes well returns to its page with a notice (or shows a new secret, once); a
//! mistake shows the page again with the reason and what was entered.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use super::pages::{self, Entered};
use super::{Portal, State, Viewer};
use crate::hook::{HookPatch, NewHook};

/// A POST form of the portal, once its CSRF token is found to be the sender's
/// session's: who sent it, and its fields.
pub(super) struct Posted {
    viewer: Viewer,
    fields: HashMap<String, String>,
}

impl Posted {
    /// The field `name`, trimmed; empty when it was not sent.
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |value| value.trim())
    }
}

impl FromRequest<Arc<Portal>> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Arc<Portal>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, portal).await?;
        let request = Request::from_parts(parts, body);
        let Form(fields) = Form::<HashMap<String, String>>::from_request(request, portal)
            .await
            .map_err(|rejection| {
                let text = rejection.body_text();
                pages::message(portal, rejection.status(), "That did not work", &text)
            })?;
        let token = fields.get("csrf").map(String::as_str);
        if !viewer.posted(portal, token) {
            return Err(pages::message(
                portal,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.",
            ));
        }
        Ok(Self { viewer, fields })
    }
}

/// The hook or delivery id in the path; the 404 page for anything else.
pub(super) struct PathId(pub(super) Uuid);

impl FromRequestParts<Arc<Portal>> for PathId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Response> {
        let Path(id) = Path::<String>::from_request_parts(parts, portal)
            .await
            .map_err(|_| pages::not_found(portal))?;
        id.parse().map(Self).map_err(|_| pages::not_found(portal))
    }
}

/// A `datetime-local` input's value, with or without seconds, as UTC.
fn parse_local(value: &str) -> Option<OffsetDateTime> {
    [
        "[year]-[month]-[day]T[hour]:[minute]",
        "[year]-[month]-[day]T[hour]:[minute]:[second]",
    ]
    .into_iter()
    .filter_map(|format| time::format_description::parse_borrowed::<2>(format).ok())
    .find_map(|format| PrimitiveDateTime::parse(value, &format).ok())
    .map(PrimitiveDateTime::assume_utc)
}

/// The reason, with its causes, of an error the owner can mend by changing what
/// they entered (the API's 422s); any other error as it was.
fn mendable(error: crate::Error) -> Result<String, crate::Error> {
    let mendable = matches!(
        error,
        crate::Error::UnknownEvent(_)
            | crate::Error::InvalidTarget { .. }
            | crate::Error::TargetNotAllowed { .. }
            | crate::Error::QuotaExceeded { .. }
            | crate::Error::TargetNotConfirmed { .. }
    );
    if mendable {
        Ok(crate::api::problem::Problem::from(error)
            .detail()
            .to_owned())
    } else {
        Err(error)
    }
}

/// See Other, to `location`, when the action went well; else its failure's page.
fn done<T>(portal: &Portal, result: crate::Result<T>, location: String) -> Response {
    match result {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(error) => pages::failure(portal, error),
    }
}

/// `POST /`: subscribe a hook; its secret is shown once.
pub(super) async fn subscribe(axum::extract::State(portal): State, posted: Posted) -> Response {
    let (event, target) = (posted.field("event"), posted.field("target"));
    let new = NewHook::new(posted.viewer.owner.clone(), event, target);
    match portal.hooks.subscribe(new).await {
        Ok(hook) => pages::secret_page(&portal, &posted.viewer, &hook, "Subscribed"),
        Err(error) => match mendable(error) {
            Ok(reason) => {
                let entered = Entered {
                    event,
                    target,
                    error: Some(format!("Could not subscribe: {reason}")),
                };
                pages::hooks_page(&portal, &posted.viewer, None, entered).await
            }
            Err(error) => pages::failure(&portal, error),
        },
    }
}

/// `POST /hooks/{id}/target`.
pub(super) async fn change_target(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let target = posted.field("target");
    let patch = HookPatch::new().target(target);
    match portal
        .hooks
        .update_hook(&posted.viewer.owner, id, patch)
        .await
    {
        Ok(_) => done(
            &portal,
            Ok(()),
            portal.path(&format!("/hooks/{id}?done=target")),
        ),
        Err(error) => match mendable(error) {
            Ok(reason) => {
                let error = format!("Could not change the target: {reason}");
                let entered = Some((error, target));
                pages::hook_page(&portal, &posted.viewer, id, &HashMap::new(), None, entered).await
            }
            Err(error) => pages::failure(&portal, error),
        },
    }
}

/// Applies `patch` to the hook and returns to its page saying `said`.
async fn patch_hook(
    portal: &Portal,
    posted: &Posted,
    id: Uuid,
    patch: HookPatch,
    said: &str,
) -> Response {
    let changed = portal
        .hooks
        .update_hook(&posted.viewer.owner, id, patch)
        .await;
    done(
        portal,
        changed,
        portal.path(&format!("/hooks/{id}?done={said}")),
    )
}

/// `POST /hooks/{id}/pause`.
pub(super) async fn pause(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    patch_hook(
        &portal,
        &posted,
        id,
        HookPatch::new().active(false),
        "paused",
    )
    .await
}

/// `POST /hooks/{id}/resume`: resumes a paused hook, or enables a disabled one
/// and sends what it held.
pub(super) async fn resume(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    patch_hook(
        &portal,
        &posted,
        id,
        HookPatch::new().active(true),
        "resumed",
    )
    .await
}

/// `POST /hooks/{id}/enable-without-replay`: enables a disabled hook and drops
/// what it held.
pub(super) async fn enable_discarding(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let patch = HookPatch::new().active(true).replay(false);
    patch_hook(&portal, &posted, id, patch, "discarded").await
}

/// `POST /hooks/{id}/rotate-secret`: the new secret is shown once.
pub(super) async fn rotate_secret(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    match portal.hooks.rotate_secret(&posted.viewer.owner, id).await {
        Ok(hook) => pages::secret_page(&portal, &posted.viewer, &hook, "The secret was rotated"),
        Err(error) => pages::failure(&portal, error),
    }
}

/// `POST /hooks/{id}/test`.
pub(super) async fn send_test(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let sent = portal.hooks.send_test(&posted.viewer.owner, id).await;
    done(
        &portal,
        sent,
        portal.path(&format!("/hooks/{id}?done=test")),
    )
}

/// `POST /hooks/{id}/recover`: `since` is a `datetime-local`, in UTC.
pub(super) async fn recover(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let Some(since) = parse_local(posted.field("since")) else {
        return pages::message(
            &portal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That did not work",
            "The time to recover from is not a date and time (YYYY-MM-DDTHH:MM).",
        );
    };
    let recovered = portal
        .hooks
        .recover(&posted.viewer.owner, id, since, None)
        .await;
    done(
        &portal,
        recovered,
        portal.path(&format!("/hooks/{id}?done=recovered")),
    )
}

/// `POST /hooks/{id}/delete`, from the confirmation page.
pub(super) async fn delete(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let deleted = portal.hooks.unsubscribe(&posted.viewer.owner, id).await;
    done(&portal, deleted, format!("{}?done=deleted", portal.home()))
}

/// `POST /deliveries/{id}/redeliver`: back to the delivery's hook.
pub(super) async fn redeliver(
    axum::extract::State(portal): State,
    PathId(id): PathId,
    posted: Posted,
) -> Response {
    let owner = &posted.viewer.owner;
    let delivery = match portal.hooks.get_delivery(owner, id).await {
        Ok(delivery) => delivery,
        Err(error) => return pages::failure(&portal, error),
    };
    let redelivered = portal.hooks.redeliver(owner, id).await;
    let location = format!("/hooks/{}?done=redelivered", delivery.hook_id);
    done(&portal, redelivered, portal.path(&location))
}
