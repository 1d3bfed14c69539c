//! The outbox, the audit rows and the links people are mailed.

use super::*;

use madoguchi::audit::Record;

impl TestApp {
    /// Mail written to the outbox, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| Mail::parse(&std::fs::read(p).expect("eml")))
            .collect()
    }

    pub async fn audit(&self) -> Vec<Record> {
        sqlx::query_as::<_, Record>(
            "select seq, at, actor_kind, actor_id, action, target, channel_id, outcome, source, \
             request_id, detail, prev_hash, hash from audit_event order by seq",
        )
        .fetch_all(&self.state.db.pool)
        .await
        .expect("audit rows")
    }

    pub async fn actions(&self) -> Vec<String> {
        self.audit().await.into_iter().map(|r| r.action).collect()
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("scalar")
    }
}

pub fn link_in(text: &str) -> Option<String> {
    let i = text.find("/setup/")?;
    let start = text[..i].rfind("http")?;
    let end = text[i..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map(|e| i + e)
        .unwrap_or(text.len());
    Some(text[start..end].to_string())
}

pub struct Mail {
    pub to: String,
    /// The sender's display name, if any.
    pub from_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Mail {
    pub fn parse(bytes: &[u8]) -> Self {
        let msg = mail_parser::MessageParser::default()
            .parse(bytes)
            .expect("a parsable message");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        let from_name = msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name())
            .unwrap_or_default()
            .to_string();
        Mail {
            to,
            from_name,
            subject: msg.subject().unwrap_or_default().to_string(),
            text: msg.body_text(0).map(|c| c.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|c| c.into_owned()).unwrap_or_default(),
            raw: String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}
