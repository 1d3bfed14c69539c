//! The domain's errors: what an operation can refuse, in words the edge maps to pages and
//! locale keys. Anything unexpected is `Internal`, carrying its cause chain to the one log line.

/// A refusal or failure of an operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or is not the asker's to see (shown alike, D1).
    #[error("not found")]
    NotFound,
    /// The asker may see it but not do this.
    #[error("forbidden")]
    Forbidden,
    /// The request was well-formed but cannot apply to the thing as it now is.
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<crate::audit::writer::NotWritten> for Error {
    fn from(e: crate::audit::writer::NotWritten) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
