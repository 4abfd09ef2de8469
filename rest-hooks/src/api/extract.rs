//! The API's extractors, whose rejections are [`Problem`]s: the owner, a JSON body,
//! a query, and an id in the path.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::problem::Problem;
use super::{Api, MAX_BODY};

/// The owner a request acts for, or 401.
pub(super) struct Owner(pub(super) String);

impl FromRequestParts<Arc<Api>> for Owner {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Problem> {
        api.resolver.owner(parts).await.map(Owner).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "no owner for this request",
            )
        })
    }
}

/// A JSON body: 415 without a JSON content type, 413 over [`MAX_BODY`], 400 when
/// malformed or of the wrong shape.
pub(super) struct Body<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(body)) => Ok(Body(body)),
            Err(rejection) => Err(body_problem(rejection)),
        }
    }
}

fn body_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "expected `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body is over {MAX_BODY} bytes, or could not be read"),
        ),
        JsonRejection::JsonSyntaxError(error) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", error.body_text())
        }
        JsonRejection::JsonDataError(error) => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid-body", error.body_text())
        }
        other => Problem::new(StatusCode::BAD_REQUEST, "invalid-body", other.body_text()),
    }
}

/// A query string: 400 when it does not parse.
pub(super) struct Query<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(query)) => Ok(Query(query)),
            Err(rejection) => Err(Problem::invalid_query(rejection.body_text())),
        }
    }
}

/// The id in a path: anything that is not a UUID names nothing, so it is a 404.
pub(super) struct Id(pub(super) Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| Problem::not_found())?;
        Uuid::parse_str(&id)
            .map(Id)
            .map_err(|_| Problem::not_found())
    }
}

/// The `Idempotency-Key` header, if there is one: 1 to 255 visible ASCII
/// characters, else 400.
pub(super) struct IdempotencyKey(pub(super) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        match value.to_str() {
            Ok(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "`Idempotency-Key` is 1 to 255 visible ASCII characters",
            )),
        }
    }
}
