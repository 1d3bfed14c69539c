//! Helpers for clerks and admins: setting up, signing in, departments and clerks.

use super::*;

/// Someone who has enrolled: what they know and have.
pub struct Person {
    pub email: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub agent: Agent,
}

impl TestApp {
    pub fn agent(&self) -> Agent {
        Agent::new(&self.base)
    }

    pub fn now(&self) -> i64 {
        use madoguchi::clock::Clock;
        self.clock.now()
    }

    /// The code an authenticator app shows now.
    pub fn code(&self, secret: &[u8]) -> String {
        totp::code_at(secret, self.now()).expect("code")
    }

    /// Moves to the start of the next 30-second step, so a fresh code exists.
    pub fn next_step(&self) {
        let now = self.now();
        self.clock.set((now / 30 + 1) * 30);
    }

    /// Goes through a setup link's two pages; returns the agent signed in, and the secret.
    pub async fn enrol(
        &self,
        link: &str,
        name: Option<&str>,
        email: &str,
        password: &str,
    ) -> Person {
        let agent = self.agent();
        let page = agent.get(link).await;
        assert_eq!(page.status, 200, "setup link opens: {}", page.body);
        let mut fields = vec![("password", password), ("password_confirm", password)];
        if let Some(n) = name {
            fields.push(("name", n));
            fields.push(("email", email));
        }
        let page = agent.post(link, &fields).await;
        assert_eq!(page.status, 303, "password step: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/setup/authenticator"));
        let page = agent.get("/setup/authenticator").await;
        assert_eq!(page.status, 200);
        let key = page.text_of_id("totp-key").expect("key shown as text");
        let secret = totp::parse_display_key(&key).expect("key is base32");
        let page = agent
            .post("/setup/authenticator", &[("code", &self.code(&secret))])
            .await;
        assert_eq!(page.status, 303, "code step: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff"));
        Person {
            email: email.to_string(),
            password: password.to_string(),
            secret,
            agent,
        }
    }

    pub async fn setup_admin(&self) -> Person {
        let link = self.bootstrap_link.clone().expect("bootstrap link");
        self.enrol(&link, Some("窓口 花子"), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
    }

    /// The password step; returns the agent in the TOTP-pending state.
    pub async fn password_step(&self, email: &str, password: &str) -> (Agent, Page) {
        let agent = self.agent();
        agent.get("/staff/signin").await;
        let page = agent
            .post("/staff/signin", &[("email", email), ("password", password)])
            .await;
        (agent, page)
    }

    /// A full sign-in at a fresh TOTP step.
    pub async fn sign_in(&self, person: &Person) -> Agent {
        let (agent, page) = self.password_step(&person.email, &person.password).await;
        assert_eq!(page.status, 303, "password accepted: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff/signin/code"));
        self.next_step();
        let page = agent
            .post(
                "/staff/signin/code",
                &[("code", &self.code(&person.secret))],
            )
            .await;
        assert_eq!(page.status, 303, "code accepted: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff"));
        agent
    }

    pub async fn add_department(&self, admin: &Agent, name: &str) -> String {
        admin.get("/staff/departments").await;
        let page = admin.post("/staff/departments", &[("name", name)]).await;
        assert_eq!(page.status, 303, "{}", page.main());
        let id: String = sqlx::query_scalar("select department_id from department where name = $1")
            .bind(name)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("department row");
        id
    }

    /// Adds a clerk through the console; returns the setup link from the mail.
    pub async fn add_clerk(&self, admin: &Agent, email: &str, name: &str, dept: &str) -> String {
        admin.get("/staff/clerks").await;
        let before = self.mails().len();
        let page = admin
            .post(
                "/staff/clerks",
                &[
                    ("email", email),
                    ("name", name),
                    ("role", "clerk"),
                    ("department_id", dept),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.main());
        let mails = self.mails();
        assert_eq!(mails.len(), before + 1);
        let mail = mails
            .into_iter()
            .find(|m| m.to == email.to_lowercase())
            .expect("setup mail");
        link_in(&mail.text).expect("link in mail")
    }
}
