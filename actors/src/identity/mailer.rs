//! Outgoing email. With `SMTP_URL` configured, mail goes through SMTP
//! (lettre, TLS when the URL asks for it); without it — the embedded
//! default — the message is written to the log so a developer can follow
//! the link. In production without SMTP nothing secret is logged.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub enum Mailer {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    Log {
        production: bool,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Log { production } => write!(f, "Mailer::Log(production: {production})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid SMTP_URL: {0}")]
    Url(String),
    #[error("invalid sender address: {0}")]
    From(String),
}

impl Mailer {
    /// An SMTP mailer for `url` (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://…`), sending as `from`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailerError> {
        let transport = Box::new(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| MailerError::Url(e.to_string()))?
                .build(),
        );
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| MailerError::From(e.to_string()))?;
        Ok(Self::Smtp { transport, from })
    }

    /// Sends a plain-text message. Failures are logged, not returned: the
    /// user can always ask for the message again.
    pub async fn send(&self, to: &str, subject: &str, body: &str) {
        match self {
            Mailer::Smtp { transport, from } => {
                let message = to
                    .parse::<Mailbox>()
                    .map_err(|e| e.to_string())
                    .and_then(|to| {
                        Message::builder()
                            .from(from.clone())
                            .to(to)
                            .subject(subject)
                            .header(ContentType::TEXT_PLAIN)
                            .body(body.to_owned())
                            .map_err(|e| e.to_string())
                    });
                match message {
                    Ok(m) => {
                        if let Err(e) = transport.send(m).await {
                            tracing::warn!(error = %e, subject, "email could not be sent");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, subject, "email could not be built"),
                }
            }
            Mailer::Log { production: false } => {
                tracing::warn!(
                    to,
                    subject,
                    body,
                    "email not sent (SMTP_URL is not set); its content is logged for development"
                );
            }
            Mailer::Log { production: true } => {
                tracing::error!(subject, "email not sent: SMTP_URL is not set");
            }
        }
    }
}
