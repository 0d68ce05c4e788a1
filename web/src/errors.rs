//! Error tracking: with `SENTRY_DSN`, panics and internal errors go to
//! Sentry — scrubbed first. Every text that leaves (messages, exception
//! values, breadcrumbs, extra data, tags, request data) passes through
//! [`scrub`], which blanks bearer tokens, JWTs, Telegram bot tokens,
//! `secret`/`password`/`token`/`api_key`-like fields, and long hex or
//! base64 runs that look like keys. Default PII sending stays off.

use std::borrow::Cow;
use std::sync::Arc;

const MASK: &str = "[scrubbed]";

/// Field names whose values are never sent.
const SENSITIVE: [&str; 10] = [
    "secret",
    "password",
    "passphrase",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "signature",
    "master_key",
    "webhook_secret",
];

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.')
}

/// `text` with anything secret-looking replaced by `[scrubbed]`.
pub fn scrub(text: &str) -> String {
    // 1. `name: value`, `name=value`, `"name": "value"` for sensitive names.
    let mut out = String::with_capacity(text.len());
    let lower = text.to_ascii_lowercase();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let hit = SENSITIVE.iter().find(|n| lower[i..].starts_with(**n));
        if let Some(name) = hit {
            let mut j = i + name.len();
            // Rest of an identifier (e.g. `secret_key`), closing quote, separator.
            while j < text.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let mut k = j;
            while k < text.len() && matches!(bytes[k], b'"' | b'\'' | b' ' | b'\t') {
                k += 1;
            }
            if k < text.len() && matches!(bytes[k], b':' | b'=') {
                k += 1;
                while k < text.len() && matches!(bytes[k], b' ' | b'"' | b'\'') {
                    k += 1;
                }
                // `Authorization: Bearer x`: the scheme goes too.
                if text[k..].to_ascii_lowercase().starts_with("bearer ") {
                    k += 7;
                }
                let mut end = k;
                while end < text.len()
                    && !matches!(
                        bytes[end],
                        b'"' | b'\'' | b',' | b'}' | b' ' | b'&' | b'\n' | b';'
                    )
                {
                    end += 1;
                }
                if end > k {
                    out.push_str(&text[i..k]);
                    out.push_str(MASK);
                    i = end;
                    continue;
                }
            }
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    // 2. Long key-like runs anywhere (JWTs, bot tokens, hex keys, base64).
    let mut result = String::with_capacity(out.len());
    let chars: Vec<char> = out.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        if is_key_char(chars[k]) {
            let start = k;
            while k < chars.len() && (is_key_char(chars[k]) || chars[k] == ':') {
                k += 1;
            }
            let run: String = chars[start..k].iter().collect();
            let digits = run.chars().filter(char::is_ascii_digit).count();
            let letters = run.chars().filter(char::is_ascii_alphabetic).count();
            let looks_secret =
                (run.len() >= 32 && digits >= 4 && letters >= 4 && !run.contains("://"))
                    || (run.starts_with("eyJ") && run.len() >= 20)
                    || bot_token(&run);
            if looks_secret {
                result.push_str(MASK);
            } else {
                result.push_str(&run);
            }
        } else {
            result.push(chars[k]);
            k += 1;
        }
    }
    result
}

/// `123456789:AA…` (a Telegram bot token).
fn bot_token(run: &str) -> bool {
    run.split_once(':').is_some_and(|(id, rest)| {
        id.len() >= 6 && id.chars().all(|c| c.is_ascii_digit()) && rest.len() >= 30
    })
}

fn scrub_value(v: &mut sentry::protocol::Value) {
    match v {
        sentry::protocol::Value::String(s) => *s = scrub(s),
        sentry::protocol::Value::Array(a) => a.iter_mut().for_each(scrub_value),
        sentry::protocol::Value::Object(o) => {
            for (k, val) in o.iter_mut() {
                if SENSITIVE.iter().any(|n| k.to_ascii_lowercase().contains(n)) {
                    *val = sentry::protocol::Value::String(MASK.into());
                } else {
                    scrub_value(val);
                }
            }
        }
        _ => {}
    }
}

/// Scrubs everything textual an event carries.
pub fn scrub_event(mut e: sentry::protocol::Event<'static>) -> sentry::protocol::Event<'static> {
    if let Some(m) = &mut e.message {
        *m = scrub(m);
    }
    if let Some(l) = &mut e.logentry {
        l.message = scrub(&l.message);
        l.params.iter_mut().for_each(scrub_value);
    }
    for x in e.exception.values.iter_mut() {
        if let Some(v) = &mut x.value {
            *v = scrub(v);
        }
    }
    for b in e.breadcrumbs.values.iter_mut() {
        if let Some(m) = &mut b.message {
            *m = scrub(m);
        }
        for v in b.data.values_mut() {
            scrub_value(v);
        }
    }
    for v in e.extra.values_mut() {
        scrub_value(v);
    }
    for v in e.tags.values_mut() {
        *v = scrub(v);
    }
    if let Some(r) = &mut e.request {
        r.cookies = None;
        r.headers.clear();
        r.data = r.data.as_deref().map(scrub);
        r.query_string = r.query_string.as_deref().map(scrub);
    }
    e.user = None;
    e.server_name = None;
    e
}

/// Starts the Sentry client when a DSN is configured; keep the guard alive
/// for as long as events should be sent.
pub fn init(dsn: Option<&str>, environment: &str) -> Option<sentry::ClientInitGuard> {
    let dsn = dsn?;
    let guard = sentry::init((
        dsn,
        sentry::ClientOptions {
            release: Some(Cow::Borrowed(concat!(
                "tradingbot@",
                env!("CARGO_PKG_VERSION")
            ))),
            environment: Some(Cow::Owned(environment.to_owned())),
            send_default_pii: false,
            attach_stacktrace: true,
            before_send: Some(Arc::new(|e| Some(scrub_event(e)))),
            before_breadcrumb: Some(Arc::new(|mut b| {
                b.message = b.message.as_deref().map(scrub);
                Some(b)
            })),
            ..Default::default()
        },
    ));
    guard.is_enabled().then_some(guard)
}

/// Reports an internal error (scrubbed by `before_send`).
pub fn report(message: &str) {
    if sentry::Hub::current()
        .client()
        .is_some_and(|c| c.is_enabled())
    {
        sentry::capture_message(message, sentry::Level::Error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_blanked_and_the_rest_kept() {
        let s = scrub(
            r#"login failed for {"email":"a@b.c","password":"hunter2!","secret": "s3cr3t"} at /api/v1/auth"#,
        );
        assert!(!s.contains("hunter2") && !s.contains("s3cr3t"), "{s}");
        assert!(s.contains("a@b.c") && s.contains("/api/v1/auth"), "{s}");
        let s =
            scrub("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop");
        assert!(!s.contains("eyJ"), "{s}");
        let s = scrub("bot 7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1 failed");
        assert!(!s.contains("AAHdq"), "{s}");
        let s =
            scrub("key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 rejected");
        assert!(!s.contains("9f86d0"), "{s}");
        assert_eq!(
            scrub("database timeout after 5 s on positions"),
            "database timeout after 5 s on positions"
        );
        let s = scrub("api_key=abcd1234&symbol=BTCUSDT");
        assert_eq!(s, "api_key=[scrubbed]&symbol=BTCUSDT");
    }
}
