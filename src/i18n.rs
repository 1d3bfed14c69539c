//! Locales: Japanese by default, English by choice (a `lang` cookie set by the visible switch,
//! else `Accept-Language`). Every string shown to people comes from `src/locales/*/main.ftl`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{Loader, static_loader};
use unic_langid::{LanguageIdentifier, langid};

static_loader! {
    static LOCALES = {
        locales: "./src/locales",
        fallback_language: "ja",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

pub const LANG_COOKIE: &str = "lang";

/// Texts already looked up, per language. A page asks for the same few dozen texts many times
/// (a conversation of 50 messages asks for each of its labels 50 times), and a Fluent look-up
/// costs far more than a map's: it was a tenth of the guest channel page's time. Texts that
/// only take a count are kept per count, up to [`MEMO_MAX`] in all.
static MEMO: LazyLock<[RwLock<HashMap<String, String>>; 2]> =
    LazyLock::new(|| [RwLock::default(), RwLock::default()]);
const MEMO_MAX: usize = 4096;

fn remembered(lang: Lang, key: &str, look_up: impl FnOnce() -> String) -> String {
    let memo = &MEMO[lang as usize];
    if let Some(text) = memo.read().ok().and_then(|m| m.get(key).cloned()) {
        return text;
    }
    let text = look_up();
    if let Ok(mut m) = memo.write()
        && m.len() < MEMO_MAX
    {
        m.insert(key.to_string(), text.clone());
    }
    text
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, offered by the switch.
    pub fn other(self) -> Self {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::Ja => langid!("ja"),
            Lang::En => langid!("en"),
        }
    }

    /// The cookie wins; then the first supported language in `Accept-Language`; then Japanese.
    pub fn choose<'a>(cookies: impl IntoIterator<Item = &'a str>, accept: Option<&str>) -> Self {
        for cookie in cookies {
            for pair in cookie.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=')
                    && k == LANG_COOKIE
                    && let Some(lang) = Lang::parse(v)
                {
                    return lang;
                }
            }
        }
        if let Some(accept) = accept {
            let mut best: Option<(f32, Lang)> = None;
            for part in accept.split(',') {
                let mut it = part.trim().split(';');
                let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                    .unwrap_or(1.0);
                let lang = match tag.split('-').next() {
                    Some("ja") => Lang::Ja,
                    Some("en") => Lang::En,
                    _ => continue,
                };
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
            if let Some((_, lang)) = best {
                return lang;
            }
        }
        Lang::Ja
    }

    pub fn t(self, key: &str) -> String {
        remembered(self, key, || LOCALES.lookup(&self.id(), key))
    }

    /// The text of a key, if the locale has it.
    pub fn try_t(self, key: &str) -> Option<String> {
        LOCALES.try_lookup(&self.id(), key)
    }

    pub fn t_with(self, key: &str, args: impl AsRef<[(&'static str, String)]>) -> String {
        if let [("count", n)] = args.as_ref()
            && n.parse::<i64>().is_ok()
        {
            let memo_key = format!("{key}\u{1f}{n}");
            return remembered(self, &memo_key, || self.look_up_with(key, args.as_ref()));
        }
        self.look_up_with(key, args.as_ref())
    }

    fn look_up_with(self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| {
                // A count is a number, so that English can choose "one guest" or "2 guests".
                let value = match v.parse::<i64>() {
                    Ok(n) if *k == "count" => FluentValue::from(n),
                    _ => FluentValue::from(v.clone()),
                };
                (Cow::Borrowed(*k), value)
            })
            .collect();
        LOCALES.lookup_with_args(&self.id(), key, &map)
    }

    /// A conversation's day separator, in Japan Standard Time: `12月3日(木)`, `Thu 3 Dec`.
    pub fn day_label(self, t: i64) -> String {
        const JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];
        const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let Some(dt) = jst(t) else {
            return String::new();
        };
        let weekday = dt.weekday().number_days_from_monday() as usize;
        let month = u8::from(dt.month());
        match self {
            Lang::Ja => format!("{}月{}日（{}）", month, dt.day(), JA[weekday]),
            Lang::En => format!(
                "{} {} {}",
                EN[weekday],
                dt.day(),
                MONTHS[usize::from(month - 1)]
            ),
        }
    }

    /// A moment with its date and weekday, in Japan Standard Time: `2026年11月28日(土) 23時42分`,
    /// `Sat 28 Nov 2026, 23:42 (JST)`.
    pub fn long_datetime(self, t: i64) -> String {
        let Some(dt) = jst(t) else {
            return String::new();
        };
        match self {
            Lang::Ja => format!(
                "{}年{} {}時{:02}分",
                dt.year(),
                self.day_label(t),
                dt.hour(),
                dt.minute()
            ),
            Lang::En => format!(
                "{} {}, {:02}:{:02} (JST)",
                self.day_label(t),
                dt.year(),
                dt.hour(),
                dt.minute()
            ),
        }
    }

    /// Text in parentheses: full-width in Japanese, after a space in English.
    pub fn paren(self, inner: &str) -> String {
        match self {
            Lang::Ja => format!("（{inner}）"),
            Lang::En => format!(" ({inner})"),
        }
    }

    /// A date with its weekday in Japan Standard Time: `2026年12月25日(金)`, `Fri 25 Dec 2026`.
    pub fn long_date(self, t: i64) -> String {
        let Some(dt) = jst(t) else {
            return String::new();
        };
        match self {
            Lang::Ja => format!("{}年{}", dt.year(), self.day_label(t)),
            Lang::En => format!("{} {}", self.day_label(t), dt.year()),
        }
    }

    /// The last day an end time still covers (ends fall at midnight JST), with its weekday.
    pub fn last_day(self, end: i64) -> String {
        self.long_date(end - 1)
    }

    /// The time of day in Japan Standard Time: `14:05`.
    pub fn time_of_day(self, t: i64) -> String {
        let Some(dt) = jst(t) else {
            return String::new();
        };
        let mut out = String::with_capacity(5);
        push2(&mut out, dt.hour());
        out.push(':');
        push2(&mut out, dt.minute());
        out
    }

    /// A time as people read it here: Japan Standard Time, `2026-11-25 17:19`.
    pub fn datetime(self, t: i64) -> String {
        let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
        match time::OffsetDateTime::from_unix_timestamp(t) {
            Ok(dt) => {
                let dt = dt.to_offset(jst);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    dt.year(),
                    u8::from(dt.month()),
                    dt.day(),
                    dt.hour(),
                    dt.minute()
                )
            }
            Err(_) => String::new(),
        }
    }
}

/// A moment in Japan Standard Time.
fn jst(t: i64) -> Option<time::OffsetDateTime> {
    let offset = time::UtcOffset::from_hms(9, 0, 0).ok()?;
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .map(|dt| dt.to_offset(offset))
}

/// A moment as a `<time datetime>` attribute: `2026-12-03T14:05:00+09:00`.
pub fn machine_time(t: i64) -> String {
    let Some(dt) = jst(t) else {
        return String::new();
    };
    // Written digit by digit: a conversation page writes one per message.
    let mut out = String::with_capacity(25);
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return String::new();
    }
    push2(&mut out, (year / 100) as u8);
    push2(&mut out, (year % 100) as u8);
    for (sep, n) in [
        ('-', u8::from(dt.month())),
        ('-', dt.day()),
        ('T', dt.hour()),
        (':', dt.minute()),
        (':', dt.second()),
    ] {
        out.push(sep);
        push2(&mut out, n);
    }
    out.push_str("+09:00");
    out
}

/// Two decimal digits, with a leading zero.
fn push2(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    #[test]
    fn machine_times_are_japan_standard_time_with_leading_zeros() {
        assert_eq!(super::machine_time(1796274307), "2026-12-03T14:05:07+09:00");
        assert_eq!(super::machine_time(0), "1970-01-01T09:00:00+09:00");
        assert_eq!(super::Lang::Ja.time_of_day(1796274307), "14:05");
    }

    #[test]
    fn remembered_texts_stay_per_language_and_per_count() {
        for _ in 0..2 {
            assert_eq!(super::Lang::Ja.t("message-you"), "あなた");
            assert_eq!(super::Lang::En.t("message-you"), "You");
            let ja = super::Lang::Ja.t_with("reads-count", [("count", "3".to_string())]);
            assert_eq!(ja, "既読 3");
            let en = super::Lang::En.t_with("reads-count", [("count", "4".to_string())]);
            assert_eq!(en, "Read by 4");
        }
    }

    #[test]
    fn english_counts_choose_their_plural() {
        let one = super::Lang::En.t_with("bulk-done", [("count", "1".to_string())]);
        let many = super::Lang::En.t_with("bulk-done", [("count", "12".to_string())]);
        assert!(one.starts_with("One person was invited"), "{one}");
        assert!(many.starts_with("12 people were invited"), "{many}");
        let ja = super::Lang::Ja.t_with("bulk-done", [("count", "12".to_string())]);
        assert!(ja.starts_with("12 人を招待し"), "{ja}");
    }

    use super::*;
    use std::collections::BTreeSet;

    fn keys(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn english_and_japanese_have_the_same_messages() {
        let ja = keys(include_str!("locales/ja/main.ftl"));
        let en = keys(include_str!("locales/en/main.ftl"));
        assert!(ja.len() > 50);
        let only_ja: Vec<_> = ja.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&ja).collect();
        assert!(only_ja.is_empty(), "missing in en: {only_ja:?}");
        assert!(only_en.is_empty(), "missing in ja: {only_en:?}");
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let ja = keys(include_str!("locales/ja/main.ftl"));
        let mut used = BTreeSet::new();
        let mut stack = vec![
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates"),
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for pat in [".t(\"", ".t_with(\""] {
                    for (i, _) in text.match_indices(pat) {
                        let rest = &text[i + pat.len()..];
                        if let Some(end) = rest.find('"') {
                            used.insert(rest[..end].to_string());
                        }
                    }
                }
            }
        }
        used.remove("key");
        let missing: Vec<_> = used.iter().filter(|k| !ja.contains(*k)).collect();
        assert!(missing.is_empty(), "keys used but not defined: {missing:?}");
    }

    #[test]
    fn every_key_built_at_run_time_exists() {
        let ja = keys(include_str!("locales/ja/main.ftl"));
        let mut built = vec![];
        for k in crate::guests::Kind::ALL {
            built.push(format!("kind-{k}"));
        }
        for p in crate::guests::Permission::ALL {
            built.push(format!("permission-{p}"));
        }
        for s in [
            "invited", "opened", "enrolled", "active", "expired", "revoked", "closed", "locked",
        ] {
            built.push(format!("guest-status-{s}"));
        }
        for s in ["expiry", "name", "organisation", "last_access"] {
            built.push(format!("sort-{s}"));
        }
        for f in [
            "name",
            "organisation",
            "email",
            "kind",
            "permission",
            "expires_on",
        ] {
            built.push(format!("bulk-field-{f}"));
        }
        for r in ["admin", "clerk"] {
            built.push(format!("role-{r}"));
        }
        for s in ["invited", "active", "disabled", "locked"] {
            built.push(format!("status-{s}"));
        }
        // Keys handed around as string literals (notices, form errors, mail parts).
        let mut src = String::new();
        let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    src.push_str(&std::fs::read_to_string(&path).expect("read"));
                    src.push('\n');
                }
            }
        }
        let prefixes = [
            "\"form-",
            "\"guest-",
            "\"bulk-",
            "\"channel-",
            "\"account-",
            "\"mail-",
            "\"clerks-",
            "\"signin-",
            "\"password-",
        ];
        for p in prefixes {
            for (i, _) in src.match_indices(p) {
                let rest = &src[i + 1..];
                let end = rest.find('"').unwrap_or(0);
                let key = &rest[..end];
                if key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
                    && !key.ends_with('-')
                {
                    built.push(key.to_string());
                }
            }
        }
        let missing: Vec<_> = built.iter().filter(|k| !ja.contains(*k)).collect();
        assert!(missing.is_empty(), "missing keys: {missing:?}");
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        let accept = Some("fr;q=1, en-US;q=0.9, ja;q=0.5");
        assert_eq!(Lang::choose([], accept), Lang::En);
        assert_eq!(Lang::choose(["x=1; lang=ja"], accept), Lang::Ja);
        assert_eq!(Lang::choose([], None), Lang::Ja);
    }

    #[test]
    fn times_are_shown_in_japan_standard_time() {
        assert_eq!(Lang::Ja.datetime(0), "1970-01-01 09:00");
    }
}
