//! The page every irreversible action passes through: what will happen and to how many people,
//! and the reason to record. A post that did not come from its button changes nothing.

use askama::Template;
use axum::response::Response;

use super::ctx::{Ctx, FieldErrors, field_attrs, field_error, render, render_invalid};
use super::error::AppResult;

#[derive(Template)]
#[template(path = "staff/confirm.html")]
pub struct ConfirmPage {
    pub ctx: Ctx,
    pub heading: String,
    /// What will happen, one line each, with the number of people it touches.
    pub consequences: Vec<String>,
    /// Where the confirmed form posts.
    pub action: String,
    pub back: String,
    pub back_label: String,
    pub button: String,
    pub reason: String,
    pub errors: FieldErrors,
}

impl ConfirmPage {
    fn error_for(&self, f: &str) -> Option<String> {
        field_error(&self.errors, f)
    }
    fn attrs(&self, f: &str, hint: bool) -> String {
        field_attrs(&self.errors, f, hint)
    }

    /// The page as an answer: 422 when it shows a refused reason.
    pub fn respond(self) -> AppResult<Response> {
        if self.errors.is_empty() {
            render(&self)
        } else {
            render_invalid(&self)
        }
    }
}
