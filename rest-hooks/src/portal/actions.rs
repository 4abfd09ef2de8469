//! The portal's actions: each a POST form with the session's CSRF token. One that
//! goes well returns to its page with a notice (or shows a new secret, once); a
//! mistake shows the page again with the reason and what was entered.

use std::collections::HashMap;

use axum::extract::{Form, Path};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use super::pages::{self, Entered};
use super::{Portal, State, Viewer};
use crate::hook::{HookPatch, NewHook};

type Fields = Form<HashMap<String, String>>;

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

/// Why an action was refused before it ran.
enum Refused {
    /// The form's CSRF token is missing or not this session's.
    Expired,
    /// The path names no hook or delivery.
    NotFound,
}

impl Refused {
    fn page(self, portal: &Portal) -> Response {
        match self {
            Refused::Expired => pages::message(
                portal,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.",
            ),
            Refused::NotFound => pages::not_found(portal),
        }
    }
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

/// Whether the form carries this session's CSRF token.
fn checked(
    portal: &Portal,
    viewer: &Viewer,
    fields: &HashMap<String, String>,
) -> Result<(), Refused> {
    if viewer.posted(portal, fields.get("csrf").map(String::as_str)) {
        Ok(())
    } else {
        Err(Refused::Expired)
    }
}

/// The id in the path.
fn parse_id(id: &str) -> Result<Uuid, Refused> {
    id.parse().map_err(|_| Refused::NotFound)
}

/// See Other, to `path` under the mount.
fn back_to(portal: &Portal, path: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, portal.path(path))],
    )
        .into_response()
}

/// See Other, to the hooks page saying `done`.
fn back_to_home(portal: &Portal, done: &str) -> Response {
    let location = format!("{}?done={done}", portal.home());
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// `POST /`: subscribe a hook; its secret is shown once.
pub(super) async fn subscribe(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let event = fields.get("event").map_or("", String::as_str).trim();
    let target = fields.get("target").map_or("", String::as_str).trim();
    let new = NewHook::new(viewer.owner.clone(), event, target);
    match portal.hooks.subscribe(new).await {
        Ok(hook) => pages::secret_page(&portal, &viewer, &hook, "Subscribed"),
        Err(error) => match mendable(error) {
            Ok(reason) => {
                let entered = Entered {
                    event,
                    target,
                    error: Some(format!("Could not subscribe: {reason}")),
                };
                pages::hooks_page(&portal, &viewer, None, entered).await
            }
            Err(error) => pages::failure(&portal, error),
        },
    }
}

/// Applies `patch` to the hook and returns to its page saying `done`.
async fn patch_hook(
    portal: &Portal,
    viewer: &Viewer,
    id: &str,
    patch: HookPatch,
    done: &str,
) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(refused) => return refused.page(portal),
    };
    match portal.hooks.update_hook(&viewer.owner, id, patch).await {
        Ok(_) => back_to(portal, &format!("/hooks/{id}?done={done}")),
        Err(error) => pages::failure(portal, error),
    }
}

/// `POST /hooks/{id}/target`.
pub(super) async fn change_target(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    let target = fields.get("target").map_or("", String::as_str).trim();
    let patch = HookPatch::new().target(target);
    match portal.hooks.update_hook(&viewer.owner, id, patch).await {
        Ok(_) => back_to(&portal, &format!("/hooks/{id}?done=target")),
        Err(error) => match mendable(error) {
            Ok(reason) => {
                let error = format!("Could not change the target: {reason}");
                pages::hook_page(
                    &portal,
                    &viewer,
                    id,
                    &HashMap::new(),
                    None,
                    Some((error, target)),
                )
                .await
            }
            Err(error) => pages::failure(&portal, error),
        },
    }
}

/// `POST /hooks/{id}/pause`.
pub(super) async fn pause(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    match checked(&portal, &viewer, &fields) {
        Ok(()) => {
            patch_hook(
                &portal,
                &viewer,
                &id,
                HookPatch::new().active(false),
                "paused",
            )
            .await
        }
        Err(refused) => refused.page(&portal),
    }
}

/// `POST /hooks/{id}/resume`: resumes a paused hook, or enables a disabled one
/// and sends what it held.
pub(super) async fn resume(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    match checked(&portal, &viewer, &fields) {
        Ok(()) => {
            patch_hook(
                &portal,
                &viewer,
                &id,
                HookPatch::new().active(true),
                "resumed",
            )
            .await
        }
        Err(refused) => refused.page(&portal),
    }
}

/// `POST /hooks/{id}/enable-without-replay`: enables a disabled hook and drops
/// what it held.
pub(super) async fn enable_discarding(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    let patch = HookPatch::new().active(true).replay(false);
    match checked(&portal, &viewer, &fields) {
        Ok(()) => patch_hook(&portal, &viewer, &id, patch, "discarded").await,
        Err(refused) => refused.page(&portal),
    }
}

/// `POST /hooks/{id}/rotate-secret`: the new secret is shown once.
pub(super) async fn rotate_secret(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    match portal.hooks.rotate_secret(&viewer.owner, id).await {
        Ok(hook) => pages::secret_page(&portal, &viewer, &hook, "The secret was rotated"),
        Err(error) => pages::failure(&portal, error),
    }
}

/// `POST /hooks/{id}/test`.
pub(super) async fn send_test(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    match portal.hooks.send_test(&viewer.owner, id).await {
        Ok(_) => back_to(&portal, &format!("/hooks/{id}?done=test")),
        Err(error) => pages::failure(&portal, error),
    }
}

/// `POST /hooks/{id}/recover`: `since` is a `datetime-local`, in UTC.
pub(super) async fn recover(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    let since = fields.get("since").map_or("", String::as_str).trim();
    let Some(since) = parse_local(since) else {
        return pages::message(
            &portal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That did not work",
            "The time to recover from is not a date and time (YYYY-MM-DDTHH:MM).",
        );
    };
    match portal.hooks.recover(&viewer.owner, id, since, None).await {
        Ok(_) => back_to(&portal, &format!("/hooks/{id}?done=recovered")),
        Err(error) => pages::failure(&portal, error),
    }
}

/// `POST /hooks/{id}/delete`, from the confirmation page.
pub(super) async fn delete(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    match portal.hooks.unsubscribe(&viewer.owner, id).await {
        Ok(()) => back_to_home(&portal, "deleted"),
        Err(error) => pages::failure(&portal, error),
    }
}

/// `POST /deliveries/{id}/redeliver`: back to the delivery's hook.
pub(super) async fn redeliver(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    if let Err(refused) = checked(&portal, &viewer, &fields) {
        return refused.page(&portal);
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(refused) => return refused.page(&portal),
    };
    let delivery = match portal.hooks.get_delivery(&viewer.owner, id).await {
        Ok(delivery) => delivery,
        Err(error) => return pages::failure(&portal, error),
    };
    match portal.hooks.redeliver(&viewer.owner, id).await {
        Ok(()) => back_to(
            &portal,
            &format!("/hooks/{}?done=redelivered", delivery.hook_id),
        ),
        Err(error) => pages::failure(&portal, error),
    }
}
