//! Helpers for channels and guests: issuing, enrolling and signing in guests.

use super::*;

/// A guest who has enrolled, with what they were given.
pub struct GuestPerson {
    pub sign_in_name: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
    pub agent: Agent,
}

impl TestApp {
    /// The JST date `days` from now, as a date input holds it.
    pub fn date_in(&self, days: i64) -> String {
        madoguchi::clock::last_day(self.now() + days * 86_400 + 1)
    }

    /// The same day as people read it on a page: `2026年12月25日(金)`.
    pub fn long_date_in(&self, days: i64) -> String {
        madoguchi::i18n::Lang::Ja.last_day(self.now() + days * 86_400 + 1)
    }

    /// An admin, a department and a clerk in it, both signed in.
    pub async fn clerk_with_department(
        &self,
        dept_name: &str,
        email: &str,
    ) -> (Person, Person, String) {
        let admin = self.setup_admin().await;
        let dept = self.add_department(&admin.agent, dept_name).await;
        let link = self
            .add_clerk(&admin.agent, email, "担当 職員", &dept)
            .await;
        let clerk = self
            .enrol(&link, None, email, "担当職員の長い合言葉です")
            .await;
        (admin, clerk, dept)
    }

    /// Another clerk in a department of their own (created by `admin`).
    pub async fn clerk_in_new_department(
        &self,
        admin: &Agent,
        dept_name: &str,
        email: &str,
    ) -> Person {
        let dept = self.add_department(admin, dept_name).await;
        let link = self.add_clerk(admin, email, "別課 職員", &dept).await;
        self.enrol(&link, None, email, "別の課の職員のための合言葉")
            .await
    }

    pub async fn create_channel(&self, clerk: &Agent, name: &str, ends_in_days: i64) -> String {
        clerk.get("/staff/channels").await;
        let ends = self.date_in(ends_in_days);
        let p = clerk
            .post(
                "/staff/channels",
                &[
                    ("name", name),
                    ("purpose", "病院との連絡のため"),
                    ("ends_on", &ends),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        p.location()
            .expect("location")
            .rsplit('/')
            .next()
            .expect("id")
            .to_string()
    }

    /// Issues a guest by e-mail; returns the invitation link from the mail.
    pub async fn invite_guest(
        &self,
        clerk: &Agent,
        channel: &str,
        name: &str,
        email: &str,
        permission: &str,
        days: i64,
    ) -> String {
        clerk.get(&format!("/staff/channels/{channel}")).await;
        let expires = self.date_in(days);
        let p = clerk
            .post(
                &format!("/staff/channels/{channel}/guests/new"),
                &[
                    ("name", name),
                    ("organisation", "市立病院"),
                    ("kind", "hospital"),
                    ("email", email),
                    ("permission", permission),
                    ("expires_on", &expires),
                    ("delivery", "email"),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        let mail = self
            .mails()
            .into_iter()
            .rev()
            .find(|m| m.to == email)
            .expect("invitation mail");
        invite_link_in(&mail.text).expect("link")
    }

    /// Opens the invitation, sets a password, enrols the app and keeps the recovery codes.
    pub async fn enrol_guest(&self, link: &str, password: &str) -> GuestPerson {
        let agent = self.agent();
        let page = agent.get(link).await;
        assert_eq!(page.status, 200, "{}", page.main());
        let sign_in_name = page.text_of_id("sign-in-name").expect("sign-in name shown");
        let p = agent
            .post(
                link,
                &[("password", password), ("password_confirm", password)],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        let page = agent.get("/setup/authenticator").await;
        let key = page.text_of_id("totp-key").expect("key");
        let secret = totp::parse_display_key(&key).expect("secret");
        let p = agent
            .post("/setup/authenticator", &[("code", &self.code(&secret))])
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        assert_eq!(p.location().as_deref(), Some("/setup/recovery-codes"));
        let page = agent.get("/setup/recovery-codes").await;
        let codes: Vec<String> = page
            .body
            .match_indices("<li><code>")
            .map(|(i, _)| {
                let rest = &page.body[i + 10..];
                rest[..rest.find('<').expect("end")].to_string()
            })
            .collect();
        assert_eq!(codes.len(), 10);
        GuestPerson {
            sign_in_name,
            password: password.to_string(),
            secret,
            recovery_codes: codes,
            agent,
        }
    }

    /// Uploads a CSV file of guests to a channel's bulk form, the CSRF token first in the body
    /// as a browser sends it (E10): hospital staff, `permission`, 30 days.
    pub async fn upload_csv(
        &self,
        clerk: &Agent,
        channel: &str,
        csv: impl Into<Vec<u8>>,
        permission: &str,
    ) -> reqwest::Response {
        clerk.get(&format!("/staff/channels/{channel}")).await;
        let form = reqwest::multipart::Form::new()
            .text("csrf", clerk.csrf())
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.into()).file_name("guests.csv"),
            )
            .text("kind", "hospital")
            .text("permission", permission.to_string())
            .text("expires_on", self.date_in(30));
        clerk
            .client
            .post(clerk.url(&format!("/staff/channels/{channel}/guests/bulk")))
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    pub async fn guest_password_step(&self, name: &str, password: &str) -> (Agent, Page) {
        let agent = self.agent();
        agent.get("/signin").await;
        let page = agent
            .post("/signin", &[("email", name), ("password", password)])
            .await;
        (agent, page)
    }

    pub async fn guest_sign_in(&self, g: &GuestPerson) -> Agent {
        let (agent, page) = self.guest_password_step(&g.sign_in_name, &g.password).await;
        assert_eq!(page.status, 303, "{}", page.main());
        assert_eq!(page.location().as_deref(), Some("/signin/code"));
        self.next_step();
        let page = agent
            .post("/signin/code", &[("code", &self.code(&g.secret))])
            .await;
        assert_eq!(page.status, 303, "{}", page.main());
        assert_eq!(page.location().as_deref(), Some("/channel"));
        agent
    }

    pub async fn guest_id(&self, sign_in_name: &str) -> String {
        // A guest's sign-in name, or a clerk's address.
        sqlx::query_scalar(
            "select account_id from guest where sign_in_name = $1 \
             union select account_id from account where email = $1",
        )
        .bind(sign_in_name)
        .fetch_one(&self.state.db.pool)
        .await
        .expect("guest id")
    }

    pub async fn status_of(&self, id: &str) -> String {
        sqlx::query_scalar("select status from account where account_id = $1")
            .bind(id)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("status")
    }
}

pub fn invite_link_in(text: &str) -> Option<String> {
    let i = text.find("/invite/")?;
    let start = text[..i].rfind("http")?;
    let end = text[i..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map(|e| i + e)
        .unwrap_or(text.len());
    Some(text[start..end].to_string())
}
