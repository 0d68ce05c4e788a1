//! A client for the real API with the steps of the seed's onboarding flow.

#![allow(dead_code)]

use super::Spawned;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Api<'a> {
    pub bot: &'a Spawned,
    pub http: Client,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl<'a> Api<'a> {
    pub fn new(bot: &'a Spawned) -> Self {
        Self {
            bot,
            http: super::client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.bot.url(&format!("/api/v1{path}"))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// The verification token most recently mailed to `address` (the
    /// embedded default writes mail to the log).
    pub fn mailed_token(&self, address: &str) -> String {
        // The log line is written before the response, but read from the
        // pipe by another thread: give it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let body = loop {
            let found = self
                .bot
                .logged("email not sent")
                .into_iter()
                .rev()
                .find(|m| m["fields"]["to"] == address);
            if let Some(m) = found {
                break m["fields"]["body"].as_str().unwrap().to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail to {address} in\n{}",
                self.bot.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let start = body.find("token=").expect("a link with a token") + "token=".len();
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post(
                "/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers, verifies and signs in a new user.
    pub async fn user(&self, email: &str) -> Session {
        let user = self.register(email).await;
        let token = self.mailed_token(email);
        let res = self
            .post("/auth/verify-email", None, json!({ "token": token }))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        let t: Value = res.json().await.unwrap();
        Session {
            id: user["id"].as_i64().unwrap(),
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            access: t["access_token"].as_str().unwrap().to_owned(),
            refresh: t["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

/// RFC 4648 base32 without padding.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').chars() {
        let v = ALPHABET.find(c.to_ascii_uppercase()).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The TOTP code `offset_steps` steps from now.
pub fn totp(secret: &[u8], offset_steps: i64) -> String {
    let t = (now() as i64 + offset_steps * 30) as u64;
    tradingbot_core::identity::totp::code_at(secret, t).unwrap()
}

/// The alert TradingView would post for `strategy`: its alert message with
/// the placeholders filled in.
pub fn tv_alert(strategy: &Value, action: &str, position: &str, id: &str) -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    strategy["alert_message"]
        .as_str()
        .unwrap()
        .replace("{{strategy.order.action}}", action)
        .replace("{{strategy.market_position}}", position)
        .replace("{{ticker}}", "BTCUSDT.P")
        .replace("{{close}}", "43000")
        .replace("{{timenow}}", &now)
        .replace("{{strategy.order.id}}", id)
}

/// Posts `body` to the strategy's webhook URL as TradingView does
/// (`text/plain`); the status and the JSON answer.
pub async fn post_alert(api: &Api<'_>, strategy: &Value, body: String) -> (u16, Value) {
    let res = api
        .http
        .post(strategy["webhook_url"].as_str().unwrap())
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn json_of(res: Response) -> Value {
    res.json().await.unwrap()
}

/// A verified user with a testnet Binance account (`key`, `secret`) and an
/// EMA strategy on BTCUSDT at 10 % and 3x.
pub async fn binance_trader(
    api: &Api<'_>,
    email: &str,
    key: &str,
    secret: &str,
) -> (Session, Value) {
    let u = api.user(email).await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "binance", "api_key": key, "api_secret": secret, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json_of(res).await["id"].as_i64().unwrap();
    let res = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "EMA", "symbol": "BTCUSDT", "account_id": account,
                    "investment_pct": 10, "leverage": 3 }),
        )
        .await;
    assert_eq!(res.status(), 201);
    (u, json_of(res).await)
}

impl Api<'_> {
    /// A paper exchange account and a BTCUSDT strategy on it; `extra`
    /// (an object) adds or overrides the strategy's fields.
    pub async fn paper_strategy(&self, user: &Session, extra: Value) -> (Value, Value) {
        let account = json_of(
            self.post(
                "/accounts/register",
                Some(&user.access),
                json!({ "exchange": "paper" }),
            )
            .await,
        )
        .await;
        let mut body = json!({ "name": "paper", "symbol": "BTCUSDT", "account_id": account["id"] });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let strategy = json_of(self.post("/strategies", Some(&user.access), body).await).await;
        (account, strategy)
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket session (token in the query) subscribed to `channels`.
pub async fn ws_subscribed(bot: &Spawned, token: &str, channels: &[&str]) -> Ws {
    use futures_util::SinkExt;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}?token={token}",
        bot.url("/api/v1/ws").replacen("http://", "ws://", 1)
    ))
    .await
    .expect("websocket connects");
    let msg = json!({ "event": "subscribe", "data": { "channels": channels } }).to_string();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(msg.into()))
        .await
        .expect("subscribe sent");
    ws
}

/// The first stored notification of `kind` whose data satisfies `pred`,
/// waiting for the recorder (it writes behind the live feed).
pub async fn notified(
    api: &Api<'_>,
    token: &str,
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page: Value = api
            .get(&format!("/notifications?kind={kind}&per_page=200"), token)
            .await
            .json()
            .await
            .unwrap();
        if let Some(n) = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| pred(&n["data"]))
        {
            return n.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stored {kind} like that: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Polls `f` until it returns `Some`, for at most 10 s.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_for(what, std::time::Duration::from_secs(10), f).await
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub async fn eventually_for<T, F, Fut>(what: &str, limit: std::time::Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A number of the API's JSON, exactly as written.
pub fn num(v: &Value) -> rust_decimal::Decimal {
    v.as_f64()
        .map(|f| rust_decimal::Decimal::from_str_exact(&f.to_string()).unwrap())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Registers the local venue's test account (`binance` or `okx`) for `u`;
/// its id.
pub async fn venue_account(api: &Api<'_>, u: &Session, exchange: &str) -> i64 {
    use super::venues::{BINANCE_KEY, BINANCE_SECRET, OKX_KEY, OKX_PASS, OKX_SECRET};
    let body = match exchange {
        "okx" => json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET,
                         "passphrase": OKX_PASS, "testnet": true }),
        _ => json!({ "exchange": "binance", "api_key": BINANCE_KEY,
                     "api_secret": BINANCE_SECRET, "testnet": true }),
    };
    let res = api.post("/accounts/register", Some(&u.access), body).await;
    assert_eq!(res.status(), 201);
    json_of(res).await["id"].as_i64().unwrap()
}
