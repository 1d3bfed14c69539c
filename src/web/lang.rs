//! The visible language switch: a small form that stores the choice in a cookie.

use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::i18n::{LANG_COOKIE, Lang};
use super::paths;
use super::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route(paths::LANG, post(lang_post))
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    back: String,
}

async fn lang_post(State(state): State<AppState>, Form(form): Form<LangForm>) -> Response {
    let lang = Lang::parse(&form.lang).unwrap_or_default();
    let back = paths::local_path(&form.back).unwrap_or("/");
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
