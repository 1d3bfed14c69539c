//! The one input check at the edge (E9): every string of the path, the query, a form body and
//! the cookies is decoded and must be valid UTF-8 free of forbidden characters (`crate::text`)
//! before any handler or database sees it. A refusal is a localised 400 page, the same on
//! SQLite and PostgreSQL; a signed-in person's refused request is recorded like any other
//! refused probe (D1). Multipart bodies stream to their handler, which checks its own fields.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode;
use tower_sessions::Session;

use super::ctx::RequestInfo;
use super::error::AppError;
use super::middleware::FORM_LIMIT;
use crate::app::AppState;
use crate::text;

/// Refuses a request that carries a forbidden character anywhere the application reads text.
pub async fn input_guard(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let mut clean = path_is_clean(parts.uri.path())
        && parts
            .uri
            .query()
            .is_none_or(|q| pairs_are_clean(q.as_bytes(), false))
        && parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .all(|v| std::str::from_utf8(v.as_bytes()).is_ok_and(|s| text::is_clean(s, false)));
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if clean && is_form {
        let bytes = match to_bytes(body, FORM_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
            }
        };
        // Form values may span lines (messages, reasons); single-line fields refuse line
        // breaks in their own check.
        clean = pairs_are_clean(&bytes, true);
        Body::from(bytes)
    } else {
        body
    };
    if clean {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let source = parts
        .extensions
        .get::<RequestInfo>()
        .map(RequestInfo::source)
        .unwrap_or_default();
    let recorded = super::record_probe(
        &state,
        &session,
        &source,
        parts.uri.path(),
        Some("refused input"),
    )
    .await;
    if let Err(e) = recorded {
        return e.into_response();
    }
    AppError::InvalidInput.into_response()
}

/// A path whose every segment, percent-decoded, is clean single-line text.
fn path_is_clean(path: &str) -> bool {
    path.split('/').all(|seg| {
        let bytes: Vec<u8> = percent_decode(seg.as_bytes()).collect();
        std::str::from_utf8(&bytes).is_ok_and(|s| text::is_clean(s, false))
    })
}

/// `application/x-www-form-urlencoded` pairs (a query or a form body), each key and value
/// decoded strictly: invalid UTF-8 is refused rather than replaced.
fn pairs_are_clean(input: &[u8], multiline: bool) -> bool {
    input.split(|b| *b == b'&').all(|pair| {
        let plus_as_space: Vec<u8> = pair
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        let decoded: Vec<u8> = percent_decode(&plus_as_space).collect();
        std::str::from_utf8(&decoded).is_ok_and(|s| text::is_clean(s, multiline))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_nul_bidi_and_invalid_utf8_are_found_in_paths_and_pairs() {
        // SECURITY E9
        assert!(path_is_clean("/c/abc/messages"));
        assert!(path_is_clean("/c/%E3%81%82"));
        assert!(!path_is_clean("/c/%00"));
        assert!(!path_is_clean("/c/%E2%80%AE"));
        assert!(!path_is_clean("/c/%FF"));
        assert!(pairs_are_clean(
            b"q=%E5%B1%B1%E7%94%B0+%E8%8A%B1%E5%AD%90&page=2",
            false
        ));
        assert!(!pairs_are_clean(b"email=a%00@b.jp", true));
        assert!(!pairs_are_clean(b"q=%C3", false));
        assert!(pairs_are_clean(b"message=line%0D%0Aline", true));
        assert!(!pairs_are_clean(b"q=line%0Aline", false));
    }
}
