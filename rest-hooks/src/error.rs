//! The one error type of the runtime, with variants a caller can act on.

use std::sync::Arc;

use uuid::Uuid;

use crate::target_policy::NotAllowed;

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

    /// The target policy (the SSRF guard) refuses the target, for example because
    /// it resolves to a private address; the source says why.
    #[error("target `{target}` is not allowed")]
    TargetNotAllowed {
        /// The target as given.
        target: String,
        /// Why the policy refuses it.
        #[source]
        reason: NotAllowed,
    },

    /// A custom header of a hook is one it may not send; `name` is empty when
    /// there are too many.
    #[error("invalid header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// Metadata holds a string with a zero character, which a store cannot keep.
    #[error("invalid metadata: a string holds a zero character (U+0000)")]
    InvalidMetadata,

    /// The owner has as many hooks as it may; nothing was stored.
    #[error("an owner has at most {limit} hooks")]
    QuotaExceeded {
        /// How many hooks an owner may have.
        limit: usize,
    },

    /// A secret given with a subscription is not `whsec_` and base64 of 24 to 64
    /// bytes.
    #[error("invalid secret: expected `whsec_` and the base64 of 24 to 64 random bytes")]
    InvalidSecret,

    /// No hook with this id belongs to this owner (it may belong to another one).
    #[error("no hook `{0}`")]
    HookNotFound(Uuid),

    /// No delivery with this id belongs to this owner (it may belong to another
    /// one).
    #[error("no delivery `{0}`")]
    DeliveryNotFound(Uuid),

    /// An idempotency key was used for another request, or the hook its request
    /// made is gone.
    #[error("idempotency key `{key}` conflicts: {reason}")]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// Why it cannot answer this request.
        reason: &'static str,
    },

    /// The target did not confirm the subscription: it must answer the handshake
    /// with 2xx and echo its `X-Hook-Secret` header.
    #[error("target `{target}` did not confirm: {reason}")]
    TargetNotConfirmed {
        /// The target.
        target: String,
        /// What it answered.
        reason: String,
    },

    /// A window of time to recover deliveries in is empty, or reaches further back
    /// than [`Hooks::RECOVER_WINDOW`](crate::Hooks::RECOVER_WINDOW).
    #[error("invalid window: {0}")]
    InvalidWindow(&'static str),

    /// A payload is larger than the limit; nothing was queued.
    #[error("the payload is {size} bytes, over the limit of {limit}")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// A payload could not be serialized.
    #[error("the payload could not be serialized")]
    Payload(#[from] serde_json::Error),

    /// The operating system gave no random bytes for a secret.
    #[error("no random bytes for a secret")]
    Randomness(#[source] getrandom::Error),

    /// The HTTP client of the default deliverer could not be built.
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),

    /// The store failed; the source says how.
    #[error("the store failed")]
    Store(#[source] StoreError),
}

/// How a store failed: the backend's own error, shared, so that every caller
/// waiting on one failed write gets the real error.
#[derive(Debug, Clone)]
pub struct StoreError(Arc<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps a backend's error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// A store's own error, with this message.
    pub fn message(message: impl Into<String>) -> Self {
        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Message(String);
        Self::new(Message(message.into()))
    }

    /// The backend's error, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }

    /// Whether the connection to the database was lost or could not be made (the
    /// server restarting, say), rather than the database refusing the statement:
    /// the same statement may succeed on a new connection. A write that failed
    /// so may or may not have been committed.
    pub fn is_connection_lost(&self) -> bool {
        #[cfg(feature = "sql")]
        if let Some(error) = self.downcast_ref::<sqlx::Error>() {
            return match error {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed => true,
                // Class 08: connection exception; 57P01-57P03: the server shut
                // down or is starting.
                sqlx::Error::Database(e) => e
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
                _ => false,
            };
        }
        false
    }

    /// Whether the database refused a row because one with the same key exists.
    pub fn is_duplicate(&self) -> bool {
        #[cfg(feature = "sql")]
        if let Some(sqlx::Error::Database(e)) = self.downcast_ref::<sqlx::Error>() {
            return e.is_unique_violation();
        }
        false
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(feature = "sql")]
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Store(StoreError::new(error))
    }
}

#[cfg(feature = "sql")]
impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Store(StoreError::new(error))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
