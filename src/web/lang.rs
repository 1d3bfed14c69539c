//! The visible language switch: a small form that stores the choice in a cookie.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::routes::Routes;
use crate::app::AppState;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::links;

pub fn router() -> Routes {
    Routes::new().route(links::LANG, post(lang_post))
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    back: String,
}

async fn lang_post(State(state): State<AppState>, Form(form): Form<LangForm>) -> Response {
    let lang = Lang::parse(&form.lang).unwrap_or_default();
    let back = links::local_path(&form.back).unwrap_or("/");
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
        lang.code()
    );
    ([(SET_COOKIE, cookie)], Redirect::to(back)).into_response()
}

/// The cookie wins; then the first supported language in `Accept-Language`; then Japanese.
pub fn from_headers(headers: &HeaderMap) -> Lang {
    let cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok());
    let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::choose(cookies, accept)
}
