//! A conversation's messages drawn as HTML. A message looks the same to every reader but its
//! author, so one drawing per language and channel page is kept beside the page's rows
//! (`messages::cache`) and serves every other reader; a message as its author sees it is kept
//! there too once the author has viewed it. Each reader's acknowledgement button is drawn for
//! them.

use std::sync::Arc;

use askama::Template;

use crate::app::AppState;
use crate::messages::Page;
use crate::messages::store::Message;
use crate::web::ctx::Words;
use crate::web::error::AppResult;

/// One message up to its acknowledgement, which the conversation adds for its reader.
#[derive(Template)]
#[template(path = "_message.html")]
struct Drawing<'a> {
    ctx: Words,
    m: &'a Message,
    /// Whether the reader wrote it.
    mine: bool,
    base: &'a str,
    city: Option<&'a str>,
}

/// Draws `page`'s messages in `words`' language, for the page to show. The drawings are kept
/// and served to other readers, so they see the language alone, never a request (C9).
pub fn draw(state: &AppState, words: Words, page: &mut Page) -> AppResult<()> {
    let one = |m: &Message, mine: bool| {
        Drawing {
            ctx: words,
            m,
            mine,
            base: &page.base,
            city: page.city.as_deref(),
        }
        .render()
    };
    let variant = format!("{} {}", words.lang().code(), page.base);
    let shared = state.conversations.drawn(
        &page.channel_id,
        page.before.as_deref(),
        &variant,
        &page.shared,
        || page.shared.iter().map(|m| one(m, false)).collect(),
    )?;
    let drawn = page
        .shared
        .iter()
        .zip(shared.others.iter().zip(shared.authors.iter()))
        .map(|(m, (others, authors))| {
            if m.author_id != page.me {
                return Ok(others.clone());
            }
            if let Some(html) = authors.get() {
                return Ok(html.clone());
            }
            let html: Arc<str> = Arc::from(one(m, true)?);
            // Another request of the author's may have drawn it meanwhile: the same drawing.
            let _ = authors.set(html.clone());
            Ok(html)
        })
        .collect::<Result<Vec<_>, askama::Error>>()?;
    page.drawn = drawn;
    Ok(())
}
