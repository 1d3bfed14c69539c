//! The witness (SECURITY G7): someone outside the operator's reach who keeps a copy of the
//! checkpoints — an auditor's mailbox, an HTTP endpoint of the city's audit or log system — so
//! that a database rolled back with its checkpoint log cut to match, or a chain rewritten and
//! re-signed with the server's own key, is named by `audit verify --witness`.

use std::time::Duration;

use anyhow::Context;

use super::checkpoint::Checkpoint;

/// How often the newest checkpoint is mailed at least (besides start, shutdown and the
/// `audit checkpoint` command).
pub const MAIL_EVERY_SECS: i64 = 3600;

/// POSTs one checkpoint to the witness's endpoint as its signed JSON line.
pub async fn post(url: &str, cp: &Checkpoint) -> anyhow::Result<()> {
    // The portal's one crypto provider, for the HTTPS client as for the server.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the witness client")?;
    let res = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_string(cp)?)
        .send()
        .await
        .with_context(|| format!("sending the checkpoint to {url}"))?;
    if !res.status().is_success() {
        anyhow::bail!("the witness at {url} answered {}", res.status());
    }
    Ok(())
}

/// The mail that carries a checkpoint to the witness's mailbox: the JSON line on a line of its
/// own, which `audit verify --witness FOLDER` reads back from the saved mails.
pub fn mail(cp: &Checkpoint, public_key: &str, to: &str) -> anyhow::Result<crate::mail::Mail> {
    let line = serde_json::to_string(cp)?;
    let text = format!(
        "Madoguchi 監査チェックポイント / audit checkpoint\n\n\
         このメールは保存しておいてください。監査ログが後から書き換えられていないかを、\
         `madoguchi audit verify --witness <このメールを保存したフォルダ>` で確かめられます。\n\
         Keep this mail: `madoguchi audit verify --witness <folder of these mails>` checks the \
         audit trail against it.\n\n{line}\n\npublic key: {public_key}\n"
    );
    Ok(crate::mail::Mail {
        to_name: "Auditor".into(),
        to_email: to.to_string(),
        content: crate::mail::Content::Plain {
            subject: format!(
                "Madoguchi audit checkpoint {} / 監査チェックポイント",
                cp.seq
            ),
            text,
        },
    })
}
