//! The one error type of the runtime, with variants a caller can act on.

use uuid::Uuid;

/// What can go wrong when subscribing, firing or delivering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event is not in the registry the `Hooks` were built with.
    #[error("unknown event `{0}`")]
    UnknownEvent(String),

    /// The target is not an absolute `http`/`https` URL of at most 2,048 bytes.
    #[error("invalid target `{target}`: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// The target policy refuses the target (for example a private address).
    #[error("target `{target}` is not allowed: {reason}")]
    TargetNotAllowed {
        /// The target as given.
        target: String,
        /// Why the policy refuses it.
        reason: String,
    },

    /// A secret given with a subscription is not `whsec_` and base64 of 24 to 64
    /// bytes.
    #[error("invalid secret: expected `whsec_` and the base64 of 24 to 64 random bytes")]
    InvalidSecret,

    /// No hook with this id belongs to this owner (it may belong to another one).
    #[error("no hook `{0}`")]
    NotFound(Uuid),

    /// A payload is larger than the limit; nothing was queued.
    #[error("the payload is {size} bytes, over the limit of {limit}")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// A payload could not be serialized.
    #[error("payload could not be serialized: {0}")]
    Payload(#[from] serde_json::Error),

    /// The operating system gave no random bytes for a secret.
    #[error("no random bytes for a secret: {0}")]
    Randomness(getrandom::Error),

    /// The HTTP client of the default deliverer could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),

    /// The store failed.
    #[error("store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Store(Box::new(error))
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Store(Box::new(error))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
