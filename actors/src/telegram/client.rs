//! The Bot API calls TradingBot makes (teloxide underneath), with errors
//! sorted by what the caller must do about them.

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::{GetUpdatesSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, LinkPreviewOptions, ParseMode, UpdateKind};

/// A user's bot: its token never leaves this value (and is not `Debug`).
#[derive(Clone)]
pub struct BotClient {
    bot: teloxide::Bot,
}

impl std::fmt::Debug for BotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotClient(…)")
    }
}

/// What became of a call, as far as retrying goes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TgError {
    /// Telegram asked to wait this many seconds (429).
    #[error("rate limited by Telegram for {0} s")]
    RetryAfter(u32),
    /// The token is no longer valid (revoked in BotFather).
    #[error("the bot token was rejected")]
    InvalidToken,
    /// Retrying the same request will not help (blocked by the user, chat
    /// not found, malformed message).
    #[error("{0}")]
    Permanent(String),
    /// Network trouble or a server error: worth retrying later.
    #[error("{0}")]
    Transient(String),
}

impl From<RequestError> for TgError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::RetryAfter(s) => TgError::RetryAfter(s.seconds().max(1)),
            RequestError::Api(ApiError::InvalidToken) => TgError::InvalidToken,
            RequestError::Api(ApiError::Unknown(d)) if is_server_side(&d) => TgError::Transient(d),
            RequestError::Api(a) => TgError::Permanent(a.to_string()),
            RequestError::MigrateToChatId(_) => {
                TgError::Permanent("the chat became a supergroup".into())
            }
            // The reqwest error text can carry the URL, and so the token.
            RequestError::Network(_) => TgError::Transient("network error".into()),
            RequestError::Io(_) => TgError::Transient("I/O error".into()),
            RequestError::InvalidJson { .. } => {
                TgError::Transient("unreadable answer from Telegram".into())
            }
        }
    }
}

fn is_server_side(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
    ]
    .iter()
    .any(|s| d.contains(s))
}

/// The bot's own identity (`getMe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: u64,
    pub username: String,
}

/// A message someone sent the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub update_id: u32,
    pub chat_id: i64,
    pub text: String,
}

impl BotClient {
    /// `api_url`: `https://api.telegram.org` (or a local server in tests).
    pub fn new(token: &str, api_url: &str) -> Result<Self, TgError> {
        let url = reqwest_url(api_url)?;
        Ok(Self {
            bot: teloxide::Bot::new(token).set_api_url(url),
        })
    }

    pub async fn get_me(&self) -> Result<BotIdentity, TgError> {
        let me = self.bot.get_me().await?;
        Ok(BotIdentity {
            id: me.id.0,
            username: me.username().to_owned(),
        })
    }

    /// Sends `html` (Telegram's HTML subset, already escaped).
    pub async fn send_html(&self, chat_id: i64, html: &str) -> Result<(), TgError> {
        self.bot
            .send_message(ChatId(chat_id), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            })
            .await?;
        Ok(())
    }

    /// Text messages from `offset` on, waiting up to `timeout_secs` for one.
    /// Returns the next offset too (past every update seen, text or not).
    pub async fn updates(
        &self,
        offset: i32,
        timeout_secs: u32,
    ) -> Result<(Vec<Incoming>, i32), TgError> {
        let updates = self
            .bot
            .get_updates()
            .offset(offset)
            .timeout(timeout_secs)
            .await?;
        let mut next = offset;
        let mut out = Vec::new();
        for u in updates {
            next = next.max(i32::try_from(u.id.0).unwrap_or(i32::MAX).saturating_add(1));
            if let UpdateKind::Message(m) = u.kind
                && let Some(text) = m.text()
            {
                out.push(Incoming {
                    update_id: u.id.0,
                    chat_id: m.chat.id.0,
                    text: text.to_owned(),
                });
            }
        }
        Ok((out, next))
    }
}

fn reqwest_url(api_url: &str) -> Result<reqwest::Url, TgError> {
    reqwest::Url::parse(api_url)
        .map_err(|e| TgError::Permanent(format!("bad Telegram API URL: {e}")))
}
