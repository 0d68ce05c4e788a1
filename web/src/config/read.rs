//! Reading one key: its raw text checked against the key's [`Value`], its
//! default taken from the key table. Every rule a value must meet lives
//! here, once per kind of value, so `Config::from_sources` only says which
//! key becomes which setting.

use super::keys::{Key, Production, Value};
use super::secrets;
use super::{ConfigError, Origin, SecretBytes, Sources, TRADINGVIEW_SENDERS};
use rust_decimal::Decimal;
use secrecy::SecretSlice;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The addresses a name in a list of networks stands for.
fn named_network(name: &str) -> Option<&'static [&'static str]> {
    name.eq_ignore_ascii_case("tradingview")
        .then_some(&TRADINGVIEW_SENDERS[..])
}

pub(super) fn invalid(
    key: &Key,
    origin: Origin,
    value: &str,
    reason: impl Into<String>,
) -> ConfigError {
    let shown = if key.secret {
        String::new()
    } else {
        format!(" = {value:?}")
    };
    ConfigError::Invalid {
        key: key.env,
        origin,
        shown,
        reason: reason.into(),
    }
}

/// Fails on the first key production requires that is not given.
pub(super) fn production_rules(sources: &Sources, all: &[Key]) -> Result<(), ConfigError> {
    for key in all {
        let reason = match key.production {
            Production::Same => continue,
            Production::Required(reason) | Production::RequiredUrl { reason, .. } => reason,
        };
        if sources.get(key).is_none() {
            return Err(ConfigError::RequiredInProduction {
                key: key.env,
                reason: reason.into(),
            });
        }
    }
    Ok(())
}

impl Sources {
    /// The value given for `key`, trimmed and checked against its kind
    /// (production's stricter schemes included); `None` when not given.
    fn checked(&self, key: &Key, production: bool) -> Result<Option<String>, ConfigError> {
        let Some((raw, origin)) = self.get(key) else {
            return Ok(None);
        };
        let value = raw.trim();
        let schemes = match (production, key.production, key.value) {
            (true, Production::RequiredUrl { schemes, .. }, _) => Some(schemes),
            (_, _, Value::Url(schemes)) => Some(schemes),
            _ => None,
        };
        let checked = match (key.value, schemes) {
            (Value::Url(_), Some(schemes)) => url(value, schemes),
            (Value::Whole { min, max }, _) => match value.parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(value.to_owned()),
                Ok(_) => Err(format!("must be between {min} and {max}")),
                Err(_) => Err(format!("not a whole number between {min} and {max}")),
            },
            (Value::Decimal { min, max }, _) => match value.parse::<Decimal>() {
                Ok(v) if decimal(min) <= v && v <= decimal(max) => Ok(value.to_owned()),
                _ => Err(format!("not a number between {min} and {max}")),
            },
            (Value::Choice(groups), _) => choice(groups, value).map(str::to_owned),
            (Value::Address, _) => bind(value).map(|_| value.to_owned()),
            (Value::Directory, _) => {
                let p = PathBuf::from(value);
                if p.exists() && !p.is_dir() {
                    Err("exists and is not a directory".to_owned())
                } else {
                    Ok(value.to_owned())
                }
            }
            (Value::Name, _) => {
                let ok = !value.is_empty()
                    && value.len() <= 64
                    && value
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
                if ok {
                    Ok(value.to_owned())
                } else {
                    Err("expected 1–64 letters, digits, '-', '_' or '.'".to_owned())
                }
            }
            (Value::LogFilter, _) => tracing_subscriber::EnvFilter::try_new(value)
                .map(|_| value.to_owned())
                .map_err(|e| e.to_string()),
            (Value::Email, _) => {
                if value.contains('@') && !value.contains(['\r', '\n']) {
                    Ok(value.to_owned())
                } else {
                    Err("not an email address".to_owned())
                }
            }
            (Value::Origins, _) => origins(value).map(|o| o.join(",")),
            (Value::Networks { named }, _) => networks(value, named).map(|_| value.to_owned()),
            (Value::Text, _) => {
                if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
                    Err("a model name".to_owned())
                } else {
                    Ok(value.to_owned())
                }
            }
            (Value::Token | Value::Secret { .. } | Value::Url(_), _) => Ok(value.to_owned()),
        };
        checked
            .map(Some)
            .map_err(|reason| invalid(key, origin, &raw, reason))
    }

    /// The value, or the key table's default: for the kinds whose default
    /// the table writes as a value.
    fn or_default(&self, key: &Key) -> Result<String, ConfigError> {
        Ok(self
            .checked(key, false)?
            .unwrap_or_else(|| key.default.to_owned()))
    }

    pub(super) fn whole<T: TryFrom<u64>>(&self, key: &Key) -> Result<T, ConfigError> {
        let text = self.or_default(key)?;
        let n: u64 = text
            .parse()
            .unwrap_or_else(|_| panic!("{}: the key table's default is not a number", key.env));
        Ok(T::try_from(n)
            .unwrap_or_else(|_| panic!("{}: the key table's range does not fit", key.env)))
    }

    /// A whole number whose default is computed at start (the table
    /// describes it in words).
    pub(super) fn whole_or<T: TryFrom<u64>>(
        &self,
        key: &Key,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.checked(key, false)? {
            None => Ok(default),
            Some(_) => self.whole(key),
        }
    }

    pub(super) fn decimal(&self, key: &Key) -> Result<Decimal, ConfigError> {
        Ok(decimal(&self.or_default(key)?))
    }

    /// The first word of the chosen group.
    pub(super) fn choice(&self, key: &Key) -> Result<&'static str, ConfigError> {
        let Value::Choice(groups) = key.value else {
            panic!("{}: not a choice", key.env);
        };
        let text = self.or_default(key)?;
        Ok(choice(groups, &text)
            .unwrap_or_else(|_| panic!("{}: the key table's default is not a choice", key.env)))
    }

    /// A URL without its trailing `/` (for web addresses); `None` when not
    /// given.
    pub(super) fn url(&self, key: &Key, production: bool) -> Result<Option<String>, ConfigError> {
        Ok(self.checked(key, production)?.map(|u| {
            let web = matches!(key.value, Value::Url(s) if s.iter().any(|s| s.starts_with("http") || s.starts_with("ws")));
            if web {
                u.trim_end_matches('/').to_owned()
            } else {
                u
            }
        }))
    }

    /// A URL, defaulting to the key table's.
    pub(super) fn url_or_default(&self, key: &Key) -> Result<String, ConfigError> {
        Ok(self
            .url(key, false)?
            .unwrap_or_else(|| key.default.to_owned()))
    }

    pub(super) fn text(&self, key: &Key) -> Result<String, ConfigError> {
        self.or_default(key)
    }

    pub(super) fn token(&self, key: &Key) -> Option<zeroize::Zeroizing<String>> {
        self.get(key)
            .map(|(raw, _)| raw.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(zeroize::Zeroizing::new)
    }

    pub(super) fn address(&self, key: &Key) -> Result<(SocketAddr, bool), ConfigError> {
        match self.checked(key, false)? {
            Some(v) => Ok((bind(&v).expect("checked"), true)),
            None => Ok((bind(key.default).expect("the key table's address"), false)),
        }
    }

    pub(super) fn origins(&self, key: &Key) -> Result<Vec<String>, ConfigError> {
        Ok(match self.checked(key, false)? {
            Some(v) => v.split(',').map(str::to_owned).collect(),
            None => Vec::new(),
        })
    }

    pub(super) fn networks(&self, key: &Key) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let Value::Networks { named } = key.value else {
            panic!("{}: not a list of networks", key.env);
        };
        Ok(match self.checked(key, false)? {
            Some(v) => networks(&v, named).expect("checked"),
            None => Vec::new(),
        })
    }

    pub(super) fn secret(&self, key: &Key) -> Result<Option<SecretBytes>, ConfigError> {
        let Value::Secret { bytes: exact } = key.value else {
            panic!("{}: not a secret key", key.env);
        };
        let Some((raw, origin)) = self.get(key) else {
            return Ok(None);
        };
        let bytes = secrets::decode_key(raw.trim()).ok_or_else(|| {
            invalid(
                key,
                origin.clone(),
                "",
                "not hex or base64 (generate one with `openssl rand -hex 32`)",
            )
        })?;
        match exact {
            Some(n) if bytes.len() != n => Err(invalid(
                key,
                origin,
                "",
                format!("must decode to exactly {n} bytes, got {}", bytes.len()),
            )),
            None if bytes.len() < 32 => Err(invalid(
                key,
                origin,
                "",
                format!("must decode to at least 32 bytes, got {}", bytes.len()),
            )),
            _ => Ok(Some(SecretSlice::from(bytes))),
        }
    }
}

fn decimal(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|_| panic!("the key table's decimal `{text}` is not a number"))
}

/// The first word of the group `word` belongs to (any case); the error
/// names the first word of each group.
fn choice(groups: &[&[&'static str]], word: &str) -> Result<&'static str, String> {
    groups
        .iter()
        .find(|g| g.iter().any(|w| w.eq_ignore_ascii_case(word)))
        .map(|g| g[0])
        .ok_or_else(|| {
            let shown: Vec<String> = groups.iter().map(|g| format!("`{}`", g[0])).collect();
            let list = match shown.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => shown.concat(),
            };
            format!("expected {list}")
        })
}

/// Comma-separated IP addresses and CIDR ranges; `named` lists stand for
/// their addresses.
fn networks(raw: &str, named: &[&str]) -> Result<Vec<ipnet::IpNet>, String> {
    let mut out = Vec::new();
    for p in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(addresses) = named
            .iter()
            .any(|n| p.eq_ignore_ascii_case(n))
            .then(|| named_network(p))
            .flatten()
        {
            for ip in addresses {
                out.push(ipnet::IpNet::from(
                    ip.parse::<IpAddr>().expect("a valid address"),
                ));
            }
            continue;
        }
        let net = p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                let names: String = named.iter().map(|n| format!(" or `{n}`")).collect();
                let what = if names.is_empty() {
                    "an IP address or CIDR range".to_owned()
                } else {
                    format!("an IP address, CIDR range{names}")
                };
                format!("`{p}` is not {what}")
            })?;
        out.push(net);
    }
    Ok(out)
}

/// Comma-separated web origins, without trailing `/`.
fn origins(raw: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let o = o.trim_end_matches('/');
        url(o, &["http", "https"]).map_err(|r| format!("`{o}`: {r}"))?;
        if o.splitn(4, '/').nth(3).is_some() {
            return Err(format!(
                "`{o}` is not an origin (scheme://host[:port], no path)"
            ));
        }
        out.push(o.to_owned());
    }
    Ok(out)
}

fn bind(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !raw.contains(':') {
        return Err("expected host:port, such as 127.0.0.1:8001".into());
    }
    raw.to_socket_addrs()
        .map_err(|e| format!("expected host:port, such as 127.0.0.1:8001 ({e})"))?
        .next()
        .ok_or_else(|| "the host name resolves to no address".into())
}

fn url(raw: &str, schemes: &[&str]) -> Result<String, String> {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!(
            "not a URL (expected {}://…)",
            schemes.join("://… or ")
        ));
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "unsupported scheme `{scheme}` (expected {})",
            schemes.join(" or ")
        ));
    }
    if rest.is_empty() || rest.starts_with('/') && !matches!(scheme, "sqlite") {
        return Err("the URL has no host".into());
    }
    if raw.chars().any(char::is_whitespace) {
        return Err("the URL contains whitespace".into());
    }
    Ok(raw.to_owned())
}
