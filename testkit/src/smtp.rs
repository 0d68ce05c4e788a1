//! A local SMTP server (RFC 5321, the subset a submission client uses:
//! EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that records
//! what it is sent, for tests of outgoing email.

use base64::Engine as _;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Default)]
pub struct Received {
    pub auth: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The message body, decoded when it is quoted-printable (RFC 2045).
    pub fn body(&self) -> String {
        let (headers, body) = self.data.split_once("\n\n").unwrap_or(("", &self.data));
        if !headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            return body.to_owned();
        }
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(v) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
}

fn b64(s: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let mut current = Received::default();
                    w.write_all(b"220 localhost ESMTP test sink\r\n").await.ok();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                        } else if let Some(rest) = line.strip_prefix("AUTH PLAIN ") {
                            let decoded = b64(rest);
                            let parts: Vec<&str> = decoded.split('\0').collect();
                            if parts.len() == 3 {
                                current.auth = Some((parts[1].to_owned(), parts[2].to_owned()));
                            }
                            b"235 2.7.0 Authentication successful\r\n"
                        } else if upper == "AUTH LOGIN" {
                            w.write_all(b"334 VXNlcm5hbWU6\r\n").await.ok();
                            let user =
                                b64(&lines.next_line().await.ok().flatten().unwrap_or_default());
                            w.write_all(b"334 UGFzc3dvcmQ6\r\n").await.ok();
                            let pass =
                                b64(&lines.next_line().await.ok().flatten().unwrap_or_default());
                            current.auth = Some((user, pass));
                            b"235 2.7.0 Authentication successful\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            current.from = line[10..].trim().to_owned();
                            b"250 2.1.0 Ok\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            current
                                .to
                                .push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                            b"250 2.1.5 Ok\r\n"
                        } else if upper == "DATA" {
                            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                                .await
                                .ok();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(
                                    l.strip_prefix('.')
                                        .filter(|_| l.starts_with(".."))
                                        .unwrap_or(&l),
                                );
                                data.push('\n');
                            }
                            current.data = data;
                            store.lock().unwrap().push(std::mem::take(&mut current));
                            b"250 2.0.0 Ok: queued\r\n"
                        } else if upper == "QUIT" {
                            w.write_all(b"221 2.0.0 Bye\r\n").await.ok();
                            break;
                        } else if upper == "RSET" || upper == "NOOP" {
                            b"250 2.0.0 Ok\r\n"
                        } else {
                            b"502 5.5.2 Command not recognized\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { port, messages }
    }

    /// Waits for the `n`-th message.
    pub async fn wait_for(&self, n: usize) -> Received {
        for _ in 0..250 {
            if let Some(m) = self.messages.lock().unwrap().get(n - 1) {
                return m.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no message {n} arrived at the SMTP sink");
    }
}
