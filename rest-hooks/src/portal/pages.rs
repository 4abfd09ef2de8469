//! The portal's pages: the hooks, a hook with its deliveries, the event catalog,
//! and the small pages around them (a secret shown once, a confirmation, a
//! message). GET handlers, and the rendering the POST handlers share.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::actions::PathId;
use super::chart::Activity;
use super::{Portal, State, Viewer};
use crate::api::problem::Problem;
use crate::error::Error;
use crate::hook::{Hook, HookState};
use crate::model::HookInfo;
use crate::queue::{Attempt, AttemptResult, Delivery, DeliveryFilter, DeliveryState};

/// Deliveries on one page of a hook.
const PAGE: usize = 25;

/// The deliveries a hook's chart counts at most.
const CHART_LIMIT: usize = 5_000;

/// What an action that went well says, by the `done` of the page it returns to.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "target" => "The target was changed.",
        "paused" => "The hook is paused: events fired meanwhile are not sent to it.",
        "resumed" => "The hook is active again; what it held is being sent, oldest first.",
        "discarded" => "The hook is active again; what it held was dropped.",
        "test" => "A test event was sent.",
        "redelivered" => "The delivery is being sent again.",
        "recovered" => "The failed deliveries of that window are being sent again.",
        "deleted" => "The hook was deleted.",
        _ => return None,
    })
}

/// The page around `body`.
fn layout(portal: &Portal, title: &str, owner: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Webhooks" }
                link rel="stylesheet" href=(portal.path("/portal.css"));
            }
            body {
                header {
                    strong { "Webhooks" }
                    @if owner.is_some() {
                        a href=(portal.home()) { "Hooks" }
                        a href=(portal.path("/events")) { "Events" }
                    }
                    @if let Some(owner) = owner {
                        span class="owner" { "Signed in as " (owner) }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page that only says something, with `status`.
pub(super) fn message(portal: &Portal, status: StatusCode, title: &str, text: &str) -> Response {
    let body = html! { h1 { (title) } p { (text) } };
    (status, layout(portal, title, None, body)).into_response()
}

pub(super) fn not_found(portal: &Portal) -> Response {
    message(
        portal,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is not yours.",
    )
}

/// The answer to an error of the hooks: 404 for what is not the owner's, the
/// reason for what the owner can mend (422), and a plain apology for the rest.
pub(super) fn failure(portal: &Portal, error: Error) -> Response {
    let problem = Problem::from(error);
    match problem.status() {
        StatusCode::NOT_FOUND => not_found(portal),
        status if status.is_client_error() => {
            message(portal, status, "That did not work", problem.detail())
        }
        status => message(
            portal,
            status,
            "Something went wrong",
            "The hooks could not be read or changed just now. Try again in a moment.",
        ),
    }
}

/// The page a link opens once its cookie is set: it goes on to the hooks.
pub(super) fn signed_in(portal: &Portal, owner: &str) -> Markup {
    let next = portal.home();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(format!("0; url={next}"));
                title { "Signed in · Webhooks" }
                link rel="stylesheet" href=(portal.path("/portal.css"));
            }
            body { main { p { "Signed in as " strong { (owner) } ". " a href=(next) { "Go to the hooks" } } } }
        }
    }
}

/// A form's hidden CSRF field.
fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A POST button for one action, with its CSRF token.
fn action(viewer: &Viewer, path: &str, label: &str, class: &str) -> Markup {
    html! {
        form class="inline" method="post" action=(path) {
            (csrf(viewer))
            button type="submit" class=(class) { (label) }
        }
    }
}

fn time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn hook_state(hook: &Hook) -> Markup {
    let (class, label) = match hook.state() {
        HookState::Active => ("state state-active", "active"),
        HookState::Paused => ("state state-paused", "paused"),
        HookState::Disabled => ("state state-disabled", "disabled"),
    };
    html! {
        span class=(class) { (label) }
        @if let Some(reason) = &hook.disabled_reason {
            " " span class="muted" { (reason) }
        }
    }
}

fn delivery_state(state: DeliveryState) -> Markup {
    let name = state.as_str();
    html! { span class=(format!("state state-{name}")) { (name) } }
}

fn attempt_result(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Status(status) => format!("HTTP {status}"),
        AttemptResult::Timeout => "timed out".into(),
        AttemptResult::Connect(error) => format!("could not connect: {error}"),
        AttemptResult::NotAllowed(error) => format!("address not allowed: {error}"),
        AttemptResult::Error(error) => format!("failed: {error}"),
    }
}

/// What the subscribe form shows again after a mistake.
#[derive(Default)]
pub(super) struct Entered<'a> {
    pub(super) event: &'a str,
    pub(super) target: &'a str,
    pub(super) error: Option<String>,
}

/// `GET /`: the owner's hooks.
pub(super) async fn hooks(
    axum::extract::State(portal): State,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let done = query.get("done").and_then(|d| done_message(d));
    hooks_page(&portal, &viewer, done, Entered::default()).await
}

/// The hooks page, with a notice or a form to show again.
pub(super) async fn hooks_page(
    portal: &Portal,
    viewer: &Viewer,
    done: Option<&str>,
    entered: Entered<'_>,
) -> Response {
    let hooks = &portal.hooks;
    let owned = match hooks.list_hooks(&viewer.owner, None, 1000).await {
        Ok(owned) => owned,
        Err(error) => return failure(portal, error),
    };
    let now = OffsetDateTime::now_utc();
    let day = DeliveryFilter::new().since(now - time::Duration::hours(24));
    let mut rows = Vec::with_capacity(owned.len());
    for hook in owned {
        let recent = hooks
            .list_deliveries(&viewer.owner, &day.hook(hook.id), None, CHART_LIMIT)
            .await;
        let last = match &recent {
            Ok(recent) if !recent.is_empty() => Ok(recent.first().map(|d| d.created_at)),
            _ => hooks
                .list_deliveries(&viewer.owner, &DeliveryFilter::new().hook(hook.id), None, 1)
                .await
                .map(|d| d.first().map(|d| d.created_at)),
        };
        match (recent, last) {
            (Ok(recent), Ok(last)) => {
                let capped = recent.len() == CHART_LIMIT;
                rows.push((hook, Activity::of(&recent, now), capped, last));
            }
            (Err(error), _) | (_, Err(error)) => return failure(portal, error),
        }
    }
    let status = if entered.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        h1 { "Your hooks" }
        @if let Some(done) = done { p class="notice" { (done) } }
        @if rows.is_empty() { p { "No hooks yet: subscribe one below." } }
        div class="hooks" {
            @for (hook, activity, capped, last) in &rows {
                section class="card hook" {
                    div class="hook-head" {
                        a href=(portal.path(&format!("/hooks/{}", hook.id))) { strong { (hook.event) } }
                        (hook_state(hook))
                    }
                    div class="target" { (hook.target) }
                    div { (activity.chart()) }
                    @if *capped {
                        div class="muted" { "The chart counts the newest " (CHART_LIMIT) " deliveries of the day only." }
                    }
                    div class="muted" {
                        "Last delivery: "
                        @match last { Some(at) => (time(*at)), None => "none yet" }
                    }
                }
            }
        }
        h2 { "Subscribe" }
        @if let Some(error) = &entered.error { p class="error" { (error) } }
        form class="card" method="post" action=(portal.home()) {
            (csrf(viewer))
            div class="row" {
                label { "Event"
                    select name="event" {
                        @for event in hooks.registry().events() {
                            option value=(event.name) selected[event.name == entered.event] { (event.name) }
                        }
                    }
                }
                label { "Target URL"
                    input type="url" name="target" required placeholder="https://example.com/hooks" value=(entered.target);
                }
                button type="submit" { "Subscribe" }
            }
        }
    };
    (
        status,
        layout(portal, "Your hooks", Some(&viewer.owner), body),
    )
        .into_response()
}

/// `GET /hooks/{id}?state=&before=`: a hook, its actions and its deliveries.
pub(super) async fn hook(
    axum::extract::State(portal): State,
    viewer: Viewer,
    PathId(id): PathId,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let done = query.get("done").and_then(|d| done_message(d));
    hook_page(&portal, &viewer, id, &query, done, None).await
}

/// A hook's page, with a notice, or an error and the target to show again.
pub(super) async fn hook_page(
    portal: &Portal,
    viewer: &Viewer,
    id: Uuid,
    query: &HashMap<String, String>,
    done: Option<&str>,
    error: Option<(String, &str)>,
) -> Response {
    let hooks = &portal.hooks;
    let hook = match hooks.get_hook(&viewer.owner, id).await {
        Ok(hook) => hook,
        Err(error) => return failure(portal, error),
    };
    let state = query.get("state").and_then(|s| DeliveryState::from_name(s));
    let before = query.get("before").and_then(|b| b.parse::<Uuid>().ok());
    let mut filter = DeliveryFilter::new().hook(id);
    if let Some(state) = state {
        filter = filter.state(state);
    }
    let deliveries = match hooks
        .list_deliveries(&viewer.owner, &filter, before, PAGE)
        .await
    {
        Ok(deliveries) => deliveries,
        Err(error) => return failure(portal, error),
    };
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = match hooks.list_attempts(&viewer.owner, &ids).await {
        Ok(attempts) => attempts,
        Err(error) => return failure(portal, error),
    };
    let here = portal.path(&format!("/hooks/{id}"));
    let older = (deliveries.len() == PAGE)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten()
        .map(|last| {
            let state = state.map_or(String::new(), |s| format!("&state={}", s.as_str()));
            format!("{here}?before={last}{state}")
        });
    let (status, error, entered_target) = match error {
        Some((error, target)) => (StatusCode::UNPROCESSABLE_ENTITY, Some(error), target),
        None => (StatusCode::OK, None, hook.target.as_str()),
    };
    let body = html! {
        p { a href=(portal.home()) { "← Your hooks" } }
        h1 { (hook.event) " " (hook_state(&hook)) }
        @if let Some(done) = done { p class="notice" { (done) } }
        @if let Some(error) = &error { p class="error" { (error) } }
        section class="card" {
            div class="target" { (hook.target) }
            div class="muted" { "Subscribed " (time(hook.created_at)) " · id " (hook.id) }
            div class="actions" {
                @match hook.state() {
                    HookState::Active => (action(viewer, &format!("{here}/pause"), "Pause", "secondary")),
                    HookState::Paused => (action(viewer, &format!("{here}/resume"), "Resume", "")),
                    HookState::Disabled => {
                        (action(viewer, &format!("{here}/resume"), "Enable and send what was held", ""))
                        (action(viewer, &format!("{here}/enable-without-replay"), "Enable and drop what was held", "secondary"))
                    }
                }
                (action(viewer, &format!("{here}/test"), "Send a test event", "secondary"))
                (action(viewer, &format!("{here}/rotate-secret"), "Rotate the secret", "secondary"))
                a href=(format!("{here}/delete")) { "Delete…" }
            }
            form method="post" action=(format!("{here}/target")) {
                (csrf(viewer))
                div class="row" {
                    label { "Target URL" input type="url" name="target" required value=(entered_target); }
                    button type="submit" class="secondary" { "Change the target" }
                }
            }
            form method="post" action=(format!("{here}/recover")) {
                (csrf(viewer))
                div class="row" {
                    label { "Send the failed deliveries again, fired since (UTC)"
                        input type="datetime-local" name="since" required;
                    }
                    button type="submit" class="secondary" { "Recover" }
                }
            }
        }
        h2 { "Deliveries" }
        form method="get" action=(here) class="row" {
            label { "State"
                select name="state" {
                    option value="" { "all" }
                    @for s in [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed, DeliveryState::Held, DeliveryState::Discarded] {
                        option value=(s.as_str()) selected[state == Some(s)] { (s.as_str()) }
                    }
                }
            }
            button type="submit" class="secondary" { "Show" }
        }
        section class="card" {
            @if deliveries.is_empty() { p { "No deliveries." } }
            @for delivery in &deliveries {
                (delivery_row(portal, viewer, delivery, &attempts))
            }
        }
        @if let Some(older) = older { p class="pager" { a href=(older) { "Older deliveries →" } } }
    };
    (
        status,
        layout(portal, &hook.event, Some(&viewer.owner), body),
    )
        .into_response()
}

fn delivery_row(
    portal: &Portal,
    viewer: &Viewer,
    delivery: &Delivery,
    attempts: &[Attempt],
) -> Markup {
    let mine: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.delivery_id == delivery.id)
        .collect();
    let payload = serde_json::from_slice::<serde_json::Value>(&delivery.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&delivery.payload).into_owned());
    html! {
        details class="delivery" {
            summary {
                (delivery_state(delivery.state))
                span { (time(delivery.created_at)) }
                span class="muted" { (delivery.attempts) " attempt(s)" }
                @if delivery.test { span class="muted" { "test" } }
            }
            @if delivery.state != DeliveryState::Pending {
                (action(viewer, &portal.path(&format!("/deliveries/{}/redeliver", delivery.id)), "Redeliver", "secondary"))
            }
            @if mine.is_empty() {
                p class="muted" { "No attempt yet." }
            } @else {
                table {
                    thead { tr { th { "When" } th { "Result" } th { "Took" } th { "Response" } } }
                    tbody {
                        @for attempt in &mine {
                            tr {
                                td { (time(attempt.attempted_at)) }
                                td { (attempt_result(&attempt.result)) }
                                td { (attempt.duration_ms) " ms" }
                                td { @if let Some(body) = &attempt.response_body { pre { (body) } } }
                            }
                        }
                    }
                }
            }
            p class="muted" { "Delivery " (delivery.id) }
            pre { (payload) }
        }
    }
}

/// `GET /events`: the catalog.
pub(super) async fn events(axum::extract::State(portal): State, viewer: Viewer) -> Response {
    let registry = portal.hooks.registry();
    let pretty = |value: Option<serde_json::Value>| {
        value.and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    let body = html! {
        h1 { "Events" }
        p { "Each event you can subscribe a hook to, with the payload it delivers." }
        @for event in registry.events() {
            @let example_hook = HookInfo::placeholder(event.name);
            section class="card" id=(event.name) {
                h2 { (event.name) }
                @if let Some(description) = registry.description(event.name) { p { (description) } }
                @if let Some(schema) = pretty(registry.payload_schema(event.name)) {
                    details { summary { "Payload schema" } pre { (schema) } }
                }
                @if let Some(example) = pretty(registry.example_payload(event.name, &example_hook)) {
                    details { summary { "Example" } pre { (example) } }
                }
            }
        }
    };
    layout(&portal, "Events", Some(&viewer.owner), body).into_response()
}

/// `GET /hooks/{id}/delete`: the confirmation step.
pub(super) async fn confirm_delete(
    axum::extract::State(portal): State,
    viewer: Viewer,
    PathId(id): PathId,
) -> Response {
    let hook = match portal.hooks.get_hook(&viewer.owner, id).await {
        Ok(hook) => hook,
        Err(error) => return failure(&portal, error),
    };
    let here = portal.path(&format!("/hooks/{id}"));
    let body = html! {
        h1 { "Delete this hook?" }
        section class="card" {
            p { strong { (hook.event) } " to " span class="target" { (hook.target) } }
            p { "Its deliveries and their log go with it. This cannot be undone." }
            div class="actions" {
                (action(&viewer, &format!("{here}/delete"), "Delete the hook", "danger"))
                a href=(here) { "Keep it" }
            }
        }
    };
    layout(&portal, "Delete this hook?", Some(&viewer.owner), body).into_response()
}

/// The page that shows a new or rotated secret, this once.
pub(super) fn secret_page(portal: &Portal, viewer: &Viewer, hook: &Hook, title: &str) -> Response {
    let here = portal.path(&format!("/hooks/{}", hook.id));
    let body = html! {
        h1 { (title) }
        section class="card" {
            p { strong { (hook.event) } " to " span class="target" { (hook.target) } }
            p { "Its signing secret, shown this once. Keep it where your receiver can read it: it verifies the "
                code { "webhook-signature" } " header of each delivery." }
            code class="secret" { (hook.secret) }
        }
        p { a href=(here) { "Go to the hook" } " · " a href=(portal.home()) { "Your hooks" } }
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        layout(portal, title, Some(&viewer.owner), body),
    )
        .into_response()
}
