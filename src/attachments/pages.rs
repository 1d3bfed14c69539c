//! Sending and downloading files in a channel, for guests and clerks (F1–F4, D6). The upload
//! streams into a private temporary file and stops at the size limit (413, nothing kept); the
//! download is an attachment with its name in RFC 6266 form, sandboxed and never sniffed.

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::AsyncWriteExt;

use crate::accounts::StaffUser;
use crate::app::AppState;
use crate::attachments::{self, Attachment, Upload};
use crate::audit::Actor;
use crate::channels::pages::page::{error_page, staff_channel_scope};
use crate::guests::GuestUser;
use crate::guests::pages::guest::{guest_channel_page, guest_channel_scope};
use crate::links;
use crate::messages::Refused;
use crate::web::ctx::Ctx;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::refusal;
use crate::web::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route(
            links::GUEST_CHANNEL_FILES,
            post(guest_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(links::GUEST_CHANNEL_FILE, get(guest_download))
        .route(
            links::STAFF_CHANNEL_FILES,
            post(staff_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(links::STAFF_CHANNEL_FILE, get(staff_download))
}

/// What a multipart upload carried, or why it was cut off.
enum Received {
    File { upload: Upload, comment: String },
    TooLarge,
}

/// Room for the form's other fields beside the file.
const FORM_ROOM: u64 = 64 * 1024;

/// Streams the upload's file into a private temporary file, counting as it goes: past the limit
/// it stops reading and what arrived is deleted (F1). A declared length past the limit is
/// refused before any of the body is read.
async fn receive(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    mut multipart: Multipart,
) -> AppResult<Received> {
    let max = state.config.file_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max + FORM_ROOM) {
        return Ok(Received::TooLarge);
    }
    let mut comment = String::new();
    let mut upload: Option<Upload> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest)?
    {
        match field.name().unwrap_or_default() {
            "file" if upload.is_none() => {
                let path = attachments::incoming_path(state)?;
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(anyhow::Error::from)?;
                // Owned from here: dropped on any early return, which deletes the file.
                let mut file = Upload {
                    name: field.file_name().unwrap_or_default().to_string(),
                    path,
                    size: 0,
                };
                while let Some(chunk) = field.chunk().await.map_err(|_| AppError::BadRequest)? {
                    file.size += chunk.len() as u64;
                    if file.size > max {
                        return Ok(Received::TooLarge);
                    }
                    out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
                }
                out.flush().await.map_err(anyhow::Error::from)?;
                upload = Some(file);
            }
            "body" => {
                let text = field.text().await.map_err(|_| AppError::BadRequest)?;
                if text.chars().count() > crate::messages::BODY_MAX
                    || !crate::text::is_clean(&text, true)
                {
                    return Err(AppError::InvalidInput);
                }
                comment = text.trim().to_string();
            }
            _ => {}
        }
    }
    match upload {
        Some(upload) => Ok(Received::File { upload, comment }),
        None => Err(AppError::BadRequest),
    }
}

async fn guest_upload(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path(channel): Path<String>,
    headers: axum::http::HeaderMap,
    multipart: Multipart,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    if !user.guest.permission.may_send_files() {
        let why = format!("permission {}", user.guest.permission.as_str());
        attachments::record_refused(&state, &ctx.source, user.actor(), &channel, &why).await?;
        return Err(AppError::Forbidden);
    }
    let author = user.guest.account_id.clone();
    let outcome = match receive(&state, &headers, multipart).await? {
        Received::TooLarge => Err((StatusCode::PAYLOAD_TOO_LARGE, too_large(&state))),
        Received::File { upload, comment } => {
            let posted = attachments::post(
                &state,
                &ctx.source,
                user.actor(),
                &author,
                &channel,
                &comment,
                upload,
            )
            .await?;
            posted.map_err(|r| (StatusCode::UNPROCESSABLE_ENTITY, r))
        }
    };
    match outcome {
        Ok(_) => {
            Ok(Redirect::to(&format!("{}#latest", links::guest_channel(&channel))).into_response())
        }
        Err((status, refused)) => {
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                too_large_recorded(&state, &ctx, user.actor(), &channel).await?;
            }
            let error = Some(refusal(&ctx, &refused));
            let mut page = guest_channel_page(&state, ctx, user, String::new(), None, None).await?;
            page.file_error = error;
            Ok((status, crate::web::ctx::render(&page)?).into_response())
        }
    }
}

async fn staff_upload(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path(channel): Path<String>,
    headers: axum::http::HeaderMap,
    multipart: Multipart,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    if !channel.is_active() {
        return Err(AppError::NotFound);
    }
    let outcome = match receive(&state, &headers, multipart).await? {
        Received::TooLarge => Err((StatusCode::PAYLOAD_TOO_LARGE, too_large(&state))),
        Received::File { upload, comment } => {
            let posted = attachments::post(
                &state,
                &ctx.source,
                user.actor(),
                &user.account_id,
                &channel.channel_id,
                &comment,
                upload,
            )
            .await?;
            posted.map_err(|r| (StatusCode::UNPROCESSABLE_ENTITY, r))
        }
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}#latest",
            links::staff_channel(&channel.channel_id)
        ))
        .into_response()),
        Err((status, refused)) => {
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                too_large_recorded(&state, &ctx, user.actor(), &channel.channel_id).await?;
            }
            let errors = vec![("file".to_string(), refusal(&ctx, &refused))];
            let page = error_page(&state, ctx, &user, channel, errors).await?;
            Ok((status, crate::web::ctx::render(&page)?).into_response())
        }
    }
}

fn too_large(state: &AppState) -> Refused {
    Refused::FileTooLarge {
        max_mb: state.config.file_max_bytes / (1024 * 1024),
    }
}

async fn too_large_recorded(
    state: &AppState,
    ctx: &Ctx,
    actor: Actor,
    channel: &str,
) -> AppResult<()> {
    attachments::record_refused(state, &ctx.source, actor, channel, "larger than the limit")
        .await?;
    Ok(())
}

async fn guest_download(
    State(state): State<AppState>,
    ctx: Ctx,
    user: GuestUser,
    Path((channel, file)): Path<(String, String)>,
) -> AppResult<Response> {
    guest_channel_scope(&state, &ctx, &user, &channel).await?;
    let found = attachments::open(&state, &ctx.source, user.actor(), &channel, &file).await?;
    download(found).await
}

async fn staff_download(
    State(state): State<AppState>,
    ctx: Ctx,
    user: StaffUser,
    Path((channel, file)): Path<(String, String)>,
) -> AppResult<Response> {
    let channel = staff_channel_scope(&state, &ctx, &user, &channel).await?;
    let found = attachments::open(
        &state,
        &ctx.source,
        user.actor(),
        &channel.channel_id,
        &file,
    )
    .await?;
    download(found).await
}

/// Characters left as they are in an RFC 5987 `filename*` value (attr-char).
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="..."; filename*=UTF-8''...` (RFC 6266): an ASCII stand-in for old
/// clients and the exact name, Japanese included, for the rest.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR)
    )
}

async fn download(found: Option<(Attachment, std::path::PathBuf)>) -> AppResult<Response> {
    let Some((file, path)) = found else {
        return Err(AppError::NotFound);
    };
    let opened = tokio::fs::File::open(&path)
        .await
        .map_err(|e| anyhow::anyhow!("opening stored file {}: {e}", file.file_id))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(opened));
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::CONTENT_DISPOSITION, content_disposition(&file.name)),
            (header::CONTENT_LENGTH, file.size.to_string()),
        ],
        body,
    )
        .into_response())
}
