//! Security alerts: which audited events the account's owner must hear
//! about, which of them they may silence, and when a login counts as coming
//! from a new place. Pure: the audit trail feeds it, the notifier delivers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// Failed logins on one account that raise an alert before the lock does.
pub const FAILED_LOGIN_ALERT_AT: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    NewLogin,
    FailedLogins,
    TwoFactorDisabled,
    PasswordChanged,
    EmailChanged,
    ExchangeKeyAdded,
    ExchangeKeyRemoved,
    WebhookSecretRotated,
    KillSwitchEngaged,
}

impl AlertKind {
    pub const ALL: [AlertKind; 9] = [
        AlertKind::NewLogin,
        AlertKind::FailedLogins,
        AlertKind::TwoFactorDisabled,
        AlertKind::PasswordChanged,
        AlertKind::EmailChanged,
        AlertKind::ExchangeKeyAdded,
        AlertKind::ExchangeKeyRemoved,
        AlertKind::WebhookSecretRotated,
        AlertKind::KillSwitchEngaged,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AlertKind::NewLogin => "new_login",
            AlertKind::FailedLogins => "failed_logins",
            AlertKind::TwoFactorDisabled => "two_factor_disabled",
            AlertKind::PasswordChanged => "password_changed",
            AlertKind::EmailChanged => "email_changed",
            AlertKind::ExchangeKeyAdded => "exchange_key_added",
            AlertKind::ExchangeKeyRemoved => "exchange_key_removed",
            AlertKind::WebhookSecretRotated => "webhook_secret_rotated",
            AlertKind::KillSwitchEngaged => "kill_switch_engaged",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The steps of an account takeover: whoever holds a stolen session
    /// would silence these first, so they cannot be switched off.
    pub fn critical(self) -> bool {
        matches!(
            self,
            AlertKind::TwoFactorDisabled
                | AlertKind::PasswordChanged
                | AlertKind::EmailChanged
                | AlertKind::ExchangeKeyAdded
        )
    }

    pub fn title(self, korean: bool) -> &'static str {
        let (en, ko) = match self {
            AlertKind::NewLogin => ("New sign-in", "새 기기/IP 로그인"),
            AlertKind::FailedLogins => ("Failed sign-in attempts", "로그인 실패 반복"),
            AlertKind::TwoFactorDisabled => {
                ("Two-factor authentication disabled", "2단계 인증 해제")
            }
            AlertKind::PasswordChanged => ("Password changed", "비밀번호 변경"),
            AlertKind::EmailChanged => ("Email address change", "이메일 변경"),
            AlertKind::ExchangeKeyAdded => ("Exchange API key added", "거래소 API 키 등록"),
            AlertKind::ExchangeKeyRemoved => ("Exchange API key removed", "거래소 API 키 삭제"),
            AlertKind::WebhookSecretRotated => ("Webhook secret rotated", "웹훅 시크릿 교체"),
            AlertKind::KillSwitchEngaged => ("Kill switch engaged", "긴급 정지 작동"),
        };
        if korean { ko } else { en }
    }

    /// What the alert is about, for the settings page.
    pub fn description(self) -> &'static str {
        match self {
            AlertKind::NewLogin => "A sign-in from an IP address or device not seen before",
            AlertKind::FailedLogins => "Repeated wrong passwords or codes, and account locks",
            AlertKind::TwoFactorDisabled => "Two-factor authentication was turned off",
            AlertKind::PasswordChanged => "The password was changed",
            AlertKind::EmailChanged => "A new email address was requested or confirmed",
            AlertKind::ExchangeKeyAdded => "An exchange API key was added or replaced",
            AlertKind::ExchangeKeyRemoved => "An exchange account was removed",
            AlertKind::WebhookSecretRotated => "A strategy's webhook secret or URL was rotated",
            AlertKind::KillSwitchEngaged => "New entries were halted by you or an administrator",
        }
    }
}

/// Who hears an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    User(i64),
    /// Every active user (the operator's global kill switch).
    Everyone,
}

/// An alert an audited event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub kind: AlertKind,
    pub recipients: Recipients,
    /// A short precision for the message ("binance account 4").
    pub subject: Option<String>,
}

fn flag(details: &Value, key: &str) -> bool {
    details.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The alert an audit event (`event`, of `user_id`, with `details`) calls
/// for, if any. The audit trail is the single source: every action that
/// deserves an alert is audited where it happens.
pub fn classify(event: &str, user_id: Option<i64>, details: &Value) -> Option<Trigger> {
    let to_user = |kind: AlertKind, subject: Option<String>| {
        user_id.map(|u| Trigger {
            kind,
            recipients: Recipients::User(u),
            subject,
        })
    };
    match event {
        "login_succeeded" if flag(details, "new_ip") || flag(details, "new_device") => {
            to_user(AlertKind::NewLogin, None)
        }
        "login_failed"
            if details.get("failures").and_then(Value::as_u64)
                == Some(u64::from(FAILED_LOGIN_ALERT_AT)) =>
        {
            to_user(
                AlertKind::FailedLogins,
                Some(format!("{FAILED_LOGIN_ALERT_AT} failed attempts")),
            )
        }
        "account_locked" => to_user(
            AlertKind::FailedLogins,
            Some("the account is locked for a while".into()),
        ),
        "2fa_disabled" => to_user(AlertKind::TwoFactorDisabled, None),
        "password_changed" => to_user(AlertKind::PasswordChanged, None),
        "email_change_requested" => to_user(
            AlertKind::EmailChanged,
            Some("a change was requested; it takes effect once the new address is confirmed".into()),
        ),
        "email_verified" if flag(details, "email_changed") => to_user(
            AlertKind::EmailChanged,
            Some("the new address is now the account's email".into()),
        ),
        "exchange_account_added" => {
            let exchange = details.get("exchange").and_then(Value::as_str)?;
            if exchange == "paper" {
                return None;
            }
            to_user(
                AlertKind::ExchangeKeyAdded,
                Some(format!("{exchange} account {}", details.get("account")?)),
            )
        }
        "exchange_account_updated" if flag(details, "credentials_replaced") => to_user(
            AlertKind::ExchangeKeyAdded,
            Some(format!("account {}: credentials replaced", details.get("account")?)),
        ),
        "exchange_account_removed" => to_user(
            AlertKind::ExchangeKeyRemoved,
            Some(format!("account {}", details.get("account")?)),
        ),
        "strategy_webhook_rotated" => to_user(
            AlertKind::WebhookSecretRotated,
            Some(format!("strategy {}", details.get("strategy")?)),
        ),
        // From the user's own chat, which the bot answered already.
        "kill_switch" if details.get("via").and_then(Value::as_str) == Some("telegram") => None,
        "kill_switch" if flag(details, "enabled") => to_user(
            AlertKind::KillSwitchEngaged,
            Some("by you; open positions keep their stop-loss and take-profit".into()),
        ),
        "user_kill_switch" if flag(details, "enabled") => Some(Trigger {
            kind: AlertKind::KillSwitchEngaged,
            recipients: Recipients::User(details.get("user")?.as_i64()?),
            subject: Some(
                "by an administrator; open positions keep their stop-loss and take-profit".into(),
            ),
        }),
        "global_kill_switch" if flag(details, "enabled") => Some(Trigger {
            kind: AlertKind::KillSwitchEngaged,
            recipients: Recipients::Everyone,
            subject: Some(
                "by the operator, for every account; open positions keep their stop-loss and take-profit"
                    .into(),
            ),
        }),
        _ => None,
    }
}

/// The alert as the user reads it: what happened, from where, when, and
/// what to do if it was not them. Never holds a secret.
pub fn message(
    kind: AlertKind,
    subject: Option<&str>,
    ip: Option<&str>,
    user_agent: Option<&str>,
    at: DateTime<Utc>,
    korean: bool,
) -> String {
    let mut lines = vec![match subject {
        Some(s) => format!("{}: {s}", kind.title(korean)),
        None => kind.title(korean).to_owned(),
    }];
    let when = at.format("%Y-%m-%d %H:%M:%S UTC");
    lines.push(if korean {
        format!("시각: {when}")
    } else {
        format!("When: {when}")
    });
    if let Some(ip) = ip {
        lines.push(if korean {
            format!("IP: {ip}")
        } else {
            format!("From: {ip}")
        });
    }
    if let Some(ua) = user_agent {
        lines.push(if korean {
            format!("기기: {}", device(ua))
        } else {
            format!("Device: {}", device(ua))
        });
    }
    if kind != AlertKind::KillSwitchEngaged {
        lines.push(
            if korean {
                "본인이 아니라면 즉시 비밀번호를 변경하고 모든 세션에서 로그아웃한 뒤 거래소 API 키를 교체하세요."
            } else {
                "If this was not you, change your password now, sign out every session and replace your exchange API keys."
            }
            .to_owned(),
        );
    }
    lines.join("\n")
}

/// A device as people name it ("Firefox on Linux"), stable across browser
/// updates so that a new version is not a new device.
pub fn device(user_agent: &str) -> String {
    let ua = user_agent.to_ascii_lowercase();
    let browser = [
        ("edg/", "Edge"),
        ("opr/", "Opera"),
        ("firefox/", "Firefox"),
        ("chrome/", "Chrome"),
        ("safari/", "Safari"),
    ]
    .into_iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| name);
    let os = [
        ("android", "Android"),
        ("iphone", "iOS"),
        ("ipad", "iOS"),
        ("windows", "Windows"),
        ("mac os", "macOS"),
        ("linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("a client on {o}"),
        // A tool: its name without the version ("curl/8.5" → "curl").
        (None, None) => {
            let name: String = user_agent
                .split(['/', ' '])
                .next()
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect();
            if name.is_empty() {
                "an unknown client".into()
            } else {
                name
            }
        }
    }
}

/// The network an address belongs to for "seen before": the address itself
/// for IPv4, the /64 for IPv6 (whose last half changes by design).
pub fn network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// Whether a login comes from a new network or a new device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Novelty {
    pub new_ip: bool,
    pub new_device: bool,
}

/// Judges a login against the places (IP, user agent) the account was used
/// from before. The first login after registration is compared with the
/// registration; an account with no history has nothing to compare with.
pub fn novelty(
    known: &[(Option<String>, Option<String>)],
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Novelty {
    if known.is_empty() {
        return Novelty::default();
    }
    let new_ip = ip.is_some_and(|ip| {
        let net = network(ip);
        !known
            .iter()
            .any(|(k, _)| k.as_deref().is_some_and(|k| network(k) == net))
    });
    let new_device = user_agent.is_some_and(|ua| {
        let dev = device(ua);
        !known
            .iter()
            .any(|(_, k)| k.as_deref().is_some_and(|k| device(k) == dev))
    });
    Novelty { new_ip, new_device }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHROME_120: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const CHROME_131: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

    #[test]
    fn devices_are_named_without_versions() {
        assert_eq!(device(CHROME_120), "Chrome on Windows");
        assert_eq!(device(CHROME_120), device(CHROME_131));
        assert_eq!(device(FIREFOX_LINUX), "Firefox on Linux");
        assert_eq!(device(SAFARI_IPHONE), "Safari on iOS");
        assert_eq!(device("curl/8.5.0"), "curl");
        assert_eq!(device(""), "an unknown client");
    }

    #[test]
    fn ipv6_addresses_of_one_network_are_the_same_place() {
        assert_eq!(
            network("2001:db8:1:2:aaaa::1"),
            network("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
        assert_eq!(network("203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn a_login_is_new_only_against_a_history() {
        let known = vec![(Some("203.0.113.7".to_owned()), Some(CHROME_120.to_owned()))];
        assert_eq!(
            novelty(&[], Some("198.51.100.1"), Some(FIREFOX_LINUX)),
            Novelty::default()
        );
        assert_eq!(
            novelty(&known, Some("203.0.113.7"), Some(CHROME_131)),
            Novelty::default(),
            "a browser update is not a new device"
        );
        assert_eq!(
            novelty(&known, Some("198.51.100.1"), Some(CHROME_131)),
            Novelty {
                new_ip: true,
                new_device: false
            }
        );
        assert_eq!(
            novelty(&known, Some("203.0.113.7"), Some(FIREFOX_LINUX)),
            Novelty {
                new_ip: false,
                new_device: true
            }
        );
    }

    #[test]
    fn audited_events_map_to_alerts() {
        let kind = |e: &str, d: Value| classify(e, Some(7), &d).map(|t| t.kind);
        assert_eq!(
            kind("login_succeeded", json!({ "new_ip": true })),
            Some(AlertKind::NewLogin)
        );
        assert_eq!(kind("login_succeeded", json!({ "new_ip": false })), None);
        assert_eq!(kind("login_failed", json!({ "failures": 2 })), None);
        assert_eq!(
            kind("login_failed", json!({ "failures": 3 })),
            Some(AlertKind::FailedLogins)
        );
        assert_eq!(
            kind("account_locked", json!({})),
            Some(AlertKind::FailedLogins)
        );
        assert_eq!(
            kind(
                "exchange_account_added",
                json!({ "account": 4, "exchange": "paper" })
            ),
            None
        );
        assert_eq!(
            kind(
                "exchange_account_added",
                json!({ "account": 4, "exchange": "binance" })
            ),
            Some(AlertKind::ExchangeKeyAdded)
        );
        assert_eq!(
            kind(
                "exchange_account_updated",
                json!({ "account": 4, "credentials_replaced": false })
            ),
            None
        );
        assert_eq!(kind("kill_switch", json!({ "enabled": false })), None);
        assert_eq!(
            kind("kill_switch", json!({ "enabled": true })),
            Some(AlertKind::KillSwitchEngaged)
        );
        assert_eq!(
            kind("kill_switch", json!({ "enabled": true, "via": "telegram" })),
            None
        );
        assert_eq!(
            classify(
                "user_kill_switch",
                Some(1),
                &json!({ "user": 9, "enabled": true })
            )
            .map(|t| t.recipients),
            Some(Recipients::User(9))
        );
        assert_eq!(
            classify("global_kill_switch", Some(1), &json!({ "enabled": true }))
                .map(|t| t.recipients),
            Some(Recipients::Everyone)
        );
        assert_eq!(kind("logout", json!({})), None);
        // An unknown email's failure belongs to no one.
        assert_eq!(
            classify("login_failed", None, &json!({ "failures": 3 })),
            None
        );
    }

    #[test]
    fn only_takeover_steps_are_critical() {
        let critical: Vec<_> = AlertKind::ALL
            .into_iter()
            .filter(|k| k.critical())
            .map(AlertKind::code)
            .collect();
        assert_eq!(
            critical,
            [
                "two_factor_disabled",
                "password_changed",
                "email_changed",
                "exchange_key_added"
            ]
        );
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.code()), Some(k));
        }
    }

    #[test]
    fn messages_say_where_and_when_without_secrets() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = message(
            AlertKind::NewLogin,
            None,
            Some("198.51.100.1"),
            Some(FIREFOX_LINUX),
            at,
            false,
        );
        assert!(m.starts_with("New sign-in\n"), "{m}");
        assert!(m.contains("When: 2026-11-24 10:00:00 UTC"));
        assert!(m.contains("From: 198.51.100.1"));
        assert!(m.contains("Device: Firefox on Linux"));
        assert!(m.contains("change your password"));
        let ko = message(AlertKind::PasswordChanged, None, None, None, at, true);
        assert!(ko.starts_with("비밀번호 변경"));
    }
}
