//! Deadlines for what a client sends (SECURITY H5): a request body must keep making progress —
//! `BODY_IDLE` without a byte and the request is answered 408 — and a request that is not an
//! upload must be answered within `REQUEST`. Request heads are bounded where connections are
//! accepted (`web::listener`). A handler cut off by a deadline still runs to its commit or
//! rollback (`middleware::run_to_completion` sits inside); only its answer becomes the 408.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;

/// How long a request body may go without a byte.
pub const BODY_IDLE: Duration = Duration::from_secs(30);
/// How long a request other than an upload may take in all.
pub const REQUEST: Duration = Duration::from_secs(60);

/// A request body that fails once it has sent nothing for `idle`, and says so in `stalled`.
struct Progress {
    inner: Body,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl HttpBody for Progress {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stalled.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body stopped arriving",
                        )))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The layer: the body's progress deadline for every request, the whole deadline for every
/// request but a multipart upload (which may rightly take long on a slow line, as long as it
/// keeps sending).
pub async fn deadlines(req: Request, next: Next) -> Response {
    let upload = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let stalled = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::new(Progress {
        inner: body,
        idle: BODY_IDLE,
        timer: None,
        stalled: stalled.clone(),
    });
    let req = Request::from_parts(parts, body);
    let res = if upload {
        next.run(req).await
    } else {
        match tokio::time::timeout(REQUEST, next.run(req)).await {
            Ok(res) => res,
            Err(_) => {
                tracing::warn!("a request passed its deadline");
                return timed_out();
            }
        }
    };
    if stalled.load(Ordering::Relaxed) {
        return timed_out();
    }
    res
}

fn timed_out() -> Response {
    let mut res = StatusCode::REQUEST_TIMEOUT.into_response();
    res.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    res
}
