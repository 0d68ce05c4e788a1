//! A local Telegram Bot API server: `POST /bot<token>/<method>` with JSON,
//! form or query parameters, answering `{"ok": true, "result": …}` or
//! `{"ok": false, "error_code": …, "description": …, "parameters": …}` as
//! the Bot API documents.
//!
//! Methods: `getMe`, `getUpdates` (long polling with `offset` / `timeout`),
//! `sendMessage` (with `parse_mode=HTML` checked the way Telegram parses it:
//! only its tags, balanced, entities escaped, at most 4096 characters of
//! text), `deleteWebhook`, `setMyCommands`. Method names are
//! case-insensitive, as Telegram's are. Unknown tokens get 401.
//!
//! Telegram asks bots not to send more than one message per second to a
//! chat; this server enforces it strictly (429 with `retry_after`) so a
//! client that paces itself passes and one that does not is caught.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A message a bot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    pub at: Instant,
}

/// A failure to inject into the next `sendMessage` of a bot.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 with `parameters.retry_after`.
    TooManyRequests { retry_after: u64 },
    /// 500 Internal Server Error.
    ServerError,
    /// 403, e.g. "Forbidden: bot was blocked by the user".
    Forbidden(String),
}

#[derive(Debug)]
struct BotState {
    id: i64,
    username: String,
    next_update_id: i64,
    updates: Vec<Value>,
    sent: Vec<Sent>,
    last_sent: HashMap<i64, Instant>,
    failures: VecDeque<Failure>,
    /// Every answer given to `sendMessage` (status codes), in order.
    send_statuses: Vec<u16>,
    /// `getUpdates` calls so far: a newer one ends an older one still
    /// waiting, as Telegram does with two pollers of one bot.
    polls: u64,
    /// Polls ended that way (409 Conflict).
    conflicts: usize,
    next_message_id: i64,
}

#[derive(Debug, Default)]
struct World {
    bots: HashMap<String, BotState>,
    min_interval: Duration,
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    updated: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct LocalTelegram {
    /// What `TRADINGBOT_TELEGRAM_API_URL` points at.
    pub url: String,
    shared: Shared,
    _server: actix_web::dev::ServerHandle,
}

impl LocalTelegram {
    pub fn start() -> Self {
        let shared = Shared {
            world: Arc::new(Mutex::new(World {
                bots: HashMap::new(),
                min_interval: Duration::from_secs(1),
            })),
            updated: Arc::new(Notify::new()),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
                let addr = listener.local_addr().expect("bound address");
                let data = web::Data::new(s);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(1 << 20))
                        .default_service(web::to(handle))
                })
                .workers(2)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send((format!("http://{addr}"), server.handle()))
                    .expect("report address");
                let _ = server.await;
            });
        });
        let (url, server) = rx.recv().expect("local Telegram started");
        Self {
            url,
            shared,
            _server: server,
        }
    }

    /// A bot BotFather would have made: `token` valid, `@username`.
    pub fn add_bot(&self, token: &str, username: &str) -> i64 {
        let mut w = self.shared.lock();
        let id = 7_000_000_000 + w.bots.len() as i64;
        w.bots.insert(
            token.to_owned(),
            BotState {
                id,
                username: username.to_owned(),
                next_update_id: 100_000,
                updates: Vec::new(),
                sent: Vec::new(),
                last_sent: HashMap::new(),
                failures: VecDeque::new(),
                send_statuses: Vec::new(),
                polls: 0,
                conflicts: 0,
                next_message_id: 1,
            },
        );
        id
    }

    /// A person writes `text` to the bot from private chat `chat_id`.
    pub fn user_says(&self, token: &str, chat_id: i64, text: &str) {
        {
            let mut w = self.shared.lock();
            let bot = w.bots.get_mut(token).expect("a known bot");
            let update_id = bot.next_update_id;
            bot.next_update_id += 1;
            let mut message = json!({
                "message_id": update_id,
                "from": { "id": chat_id, "is_bot": false, "first_name": "Trader", "language_code": "en" },
                "chat": { "id": chat_id, "type": "private", "first_name": "Trader" },
                "date": crate::now_ms() / 1000,
                "text": text,
            });
            if text.starts_with('/') {
                let len = text
                    .split_whitespace()
                    .next()
                    .unwrap_or(text)
                    .encode_utf16()
                    .count();
                message["entities"] =
                    json!([{ "type": "bot_command", "offset": 0, "length": len }]);
            }
            bot.updates
                .push(json!({ "update_id": update_id, "message": message }));
        }
        self.shared.updated.notify_waiters();
    }

    /// Messages the bot sent so far.
    pub fn sent(&self, token: &str) -> Vec<Sent> {
        self.shared
            .lock()
            .bots
            .get(token)
            .map(|b| b.sent.clone())
            .unwrap_or_default()
    }

    /// Status codes answered to the bot's `sendMessage` calls, in order.
    pub fn send_statuses(&self, token: &str) -> Vec<u16> {
        self.shared
            .lock()
            .bots
            .get(token)
            .map(|b| b.send_statuses.clone())
            .unwrap_or_default()
    }

    pub fn fail_next_send(&self, token: &str, failure: Failure) {
        if let Some(b) = self.shared.lock().bots.get_mut(token) {
            b.failures.push_back(failure);
        }
    }

    /// Polls of the bot that another poll ended (two instances polling).
    pub fn conflicts(&self, token: &str) -> usize {
        self.shared
            .lock()
            .bots
            .get(token)
            .map_or(0, |b| b.conflicts)
    }

    /// `getUpdates` calls the bot made.
    pub fn polls(&self, token: &str) -> u64 {
        self.shared.lock().bots.get(token).map_or(0, |b| b.polls)
    }

    /// Whether updates the bot has not confirmed (by a higher offset) remain.
    pub fn pending_updates(&self, token: &str) -> usize {
        self.shared
            .lock()
            .bots
            .get(token)
            .map_or(0, |b| b.updates.len())
    }
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true, "result": result }))
}

fn fail(status: u16, description: &str, parameters: Option<Value>) -> HttpResponse {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(body)
}

/// Parameters from the query string, a JSON body or a urlencoded form.
fn params(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for (k, v) in url_pairs(req.query_string()) {
        out.insert(k, Value::String(v));
    }
    if body.is_empty() {
        return Ok(out);
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => out.extend(m),
            _ => return Err("Bad Request: invalid JSON body".into()),
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url_pairs(&String::from_utf8_lossy(body)) {
            out.insert(k, Value::String(v));
        }
    } else {
        return Err(format!("Bad Request: unsupported content type {ct:?}"));
    }
    Ok(out)
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn int(p: &serde_json::Map<String, Value>, key: &str) -> Option<i64> {
    match p.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(p: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let Some((bot_part, method)) = path.split_once('/') else {
        return fail(404, "Not Found", None);
    };
    let Some(token) = bot_part.strip_prefix("bot") else {
        return fail(404, "Not Found", None);
    };
    let p = match params(&req, &body) {
        Ok(p) => p,
        Err(e) => return fail(400, &e, None),
    };
    if !shared.lock().bots.contains_key(token) {
        return fail(401, "Unauthorized", None);
    }
    match method.to_ascii_lowercase().as_str() {
        "getme" => {
            let w = shared.lock();
            let b = &w.bots[token];
            ok(json!({
                "id": b.id, "is_bot": true, "first_name": b.username.trim_end_matches("_bot"),
                "username": b.username, "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false,
                "can_connect_to_business": false, "has_main_web_app": false,
            }))
        }
        "deletewebhook" | "setmycommands" => ok(Value::Bool(true)),
        "getupdates" => get_updates(&shared, token, &p).await,
        "sendmessage" => send_message(&shared, token, &p),
        _ => fail(404, "Not Found: method not found", None),
    }
}

async fn get_updates(
    shared: &Shared,
    token: &str,
    p: &serde_json::Map<String, Value>,
) -> HttpResponse {
    let offset = int(p, "offset");
    let timeout = Duration::from_secs(int(p, "timeout").unwrap_or(0).clamp(0, 50) as u64);
    let deadline = Instant::now() + timeout;
    let me = {
        let mut w = shared.lock();
        let Some(bot) = w.bots.get_mut(token) else {
            return fail(401, "Unauthorized", None);
        };
        bot.polls += 1;
        bot.polls
    };
    // Wakes the poll this one ends.
    shared.updated.notify_waiters();
    loop {
        let notified = shared.updated.notified();
        {
            let mut w = shared.lock();
            let Some(bot) = w.bots.get_mut(token) else {
                return fail(401, "Unauthorized", None);
            };
            if bot.polls != me {
                bot.conflicts += 1;
                return fail(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    None,
                );
            }
            // An offset confirms every update before it: they are forgotten.
            if let Some(o) = offset {
                bot.updates
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
            }
            if !bot.updates.is_empty() {
                return ok(Value::Array(bot.updates.clone()));
            }
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return ok(json!([]));
        };
        if tokio::time::timeout(left, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

fn send_message(shared: &Shared, token: &str, p: &serde_json::Map<String, Value>) -> HttpResponse {
    let Some(chat_id) = int(p, "chat_id") else {
        return fail(400, "Bad Request: chat_id is empty", None);
    };
    let Some(body) = text(p, "text").filter(|t| !t.trim().is_empty()) else {
        return fail(400, "Bad Request: message text is empty", None);
    };
    let parse_mode = text(p, "parse_mode");
    let visible = match parse_mode.as_deref() {
        None => body.clone(),
        Some(m) if m.eq_ignore_ascii_case("html") => match html_text(&body) {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    400,
                    &format!("Bad Request: can't parse entities: {e}"),
                    None,
                );
            }
        },
        Some(m) => {
            return fail(
                400,
                &format!("Bad Request: unsupported parse_mode {m:?}"),
                None,
            );
        }
    };
    if visible.chars().count() > 4096 {
        return fail(400, "Bad Request: message is too long", None);
    }
    let mut w = shared.lock();
    let min_interval = w.min_interval;
    let bot = w.bots.get_mut(token).expect("checked above");
    if let Some(f) = bot.failures.pop_front() {
        let (status, response) = match f {
            Failure::TooManyRequests { retry_after } => (
                429,
                fail(
                    429,
                    &format!("Too Many Requests: retry after {retry_after}"),
                    Some(json!({ "retry_after": retry_after })),
                ),
            ),
            Failure::ServerError => (500, fail(500, "Internal Server Error", None)),
            Failure::Forbidden(why) => (403, fail(403, &format!("Forbidden: {why}"), None)),
        };
        bot.send_statuses.push(status);
        return response;
    }
    let now = Instant::now();
    if let Some(last) = bot.last_sent.get(&chat_id)
        && now.duration_since(*last) < min_interval
    {
        bot.send_statuses.push(429);
        return fail(
            429,
            "Too Many Requests: retry after 1",
            Some(json!({ "retry_after": 1 })),
        );
    }
    bot.last_sent.insert(chat_id, now);
    bot.send_statuses.push(200);
    bot.sent.push(Sent {
        chat_id,
        text: body.clone(),
        parse_mode: parse_mode.clone(),
        at: now,
    });
    let message_id = bot.next_message_id;
    bot.next_message_id += 1;
    ok(json!({
        "message_id": message_id,
        "from": { "id": bot.id, "is_bot": true, "first_name": bot.username, "username": bot.username },
        "chat": { "id": chat_id, "type": "private", "first_name": "Trader" },
        "date": crate::now_ms() / 1000,
        "text": visible,
    }))
}

/// The text Telegram shows for an HTML message, or why it cannot parse it:
/// only its tags, properly nested, and `&` only in `&lt;` `&gt;` `&amp;`
/// `&quot;` or numeric entities.
pub fn html_text(html: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let offset = html.len() - rest.len();
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or_else(|| format!("unclosed start tag at byte offset {offset}"))?;
                let inner = &rest[1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match open.pop() {
                        Some(o) if o == name => {}
                        _ => {
                            return Err(format!(
                                "Can't find end tag corresponding to start tag \"{name}\" at byte offset {offset}"
                            ));
                        }
                    }
                } else {
                    let name = inner
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {offset}"
                        ));
                    }
                    open.push(name);
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or_else(|| format!("Unsupported entity at byte offset {offset}"))?;
                let entity = &rest[1..end];
                let ch = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    e if e.starts_with('#') => e[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("Unsupported entity at byte offset {offset}"))?,
                    _ => return Err(format!("Unsupported entity at byte offset {offset}")),
                };
                out.push(ch);
                rest = &rest[end + 1..];
            }
            '>' => return Err(format!("Unexpected end tag at byte offset {offset}")),
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(o) = open.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{o}\""
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::html_text;

    #[test]
    fn parses_html_as_telegram_does() {
        assert_eq!(
            html_text("<b>PnL</b> &lt;3 &amp; +5").unwrap(),
            "PnL <3 & +5"
        );
        assert!(html_text("<b>unclosed").is_err());
        assert!(
            html_text("<div>x</div>")
                .unwrap_err()
                .contains("Unsupported start tag")
        );
        assert!(html_text("a & b").is_err());
        assert!(html_text("1 > 0").is_err());
        assert!(html_text("<b><i>x</b></i>").is_err());
    }
}
