//! RFC 9457 problems: every error the API answers, as `application/problem+json`
//! with a stable `type`.

use std::error::Error as _;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// An RFC 9457 problem.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    pub(super) fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
        }
    }

    /// 404 for what does not exist, or is another owner's.
    pub(super) fn not_found() -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
    }

    /// The status it answers with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, for a person.
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }

    /// 400 for a query the API does not take.
    pub(super) fn invalid_query(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-query", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("urn:rest-hooks:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// The error and what its sources add: "target `…` is not allowed: 10.0.0.1 is a
/// private address".
fn detail(error: &Error) -> String {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let kind = match &error {
            Error::UnknownEvent(_) => "unknown-event",
            Error::InvalidTarget { .. } => "invalid-target",
            Error::TargetNotAllowed { .. } => "target-not-allowed",
            Error::InvalidSecret => "invalid-secret",
            Error::InvalidHeader { .. } => "invalid-header",
            Error::InvalidMetadata => "invalid-metadata",
            Error::QuotaExceeded { .. } => "quota-exceeded",
            Error::InvalidWindow(_) => "invalid-window",
            Error::TargetNotConfirmed { .. } => "target-not-confirmed",
            Error::IdempotencyConflict { .. } => {
                return Problem::new(StatusCode::CONFLICT, "idempotency-conflict", detail(&error));
            }
            Error::HookNotFound(_) | Error::DeliveryNotFound(_) => return Problem::not_found(),
            Error::PayloadTooLarge { .. } => {
                return Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    detail(&error),
                );
            }
            _ => {
                tracing::error!(error = %detail(&error), "the management API failed");
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the hooks store failed; try again",
                );
            }
        };
        Problem::new(unprocessable, kind, detail(&error))
    }
}
