//! The one application error. Expected failures become pages with the right status; anything
//! unexpected is logged once with its cause chain and shown as a generic page with a request id.
//! The page itself is drawn by `middleware::error_pages`, which knows the language and request id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("the form's security token did not match")]
    Csrf,
    #[error("bad request")]
    BadRequest,
    #[error("the request carried characters that are never accepted")]
    InvalidInput,
    #[error("too many requests")]
    TooManyRequests,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Which message the error page shows; attached to the response for the renderer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Csrf,
    InvalidInput,
}

impl From<crate::error::Error> for AppError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::NotFound => AppError::NotFound,
            Error::Forbidden => AppError::Forbidden,
            Error::BadRequest => AppError::BadRequest,
            Error::Internal(e) => AppError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("rendering a template"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("session store"))
    }
}

impl From<tower_sessions::session_store::Error> for AppError {
    fn from(e: tower_sessions::session_store::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("session store"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest | AppError::InvalidInput => StatusCode::BAD_REQUEST,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut res = status.into_response();
        match self {
            AppError::Csrf => {
                res.extensions_mut().insert(ErrorKind::Csrf);
            }
            AppError::InvalidInput => {
                res.extensions_mut().insert(ErrorKind::InvalidInput);
            }
            _ => {}
        }
        res
    }
}

pub type AppResult<T> = Result<T, AppError>;
