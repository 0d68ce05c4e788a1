//! Anthropic's messages API, made to answer through a tool whose input
//! schema is the wanted shape (`tool_choice` forces it), so the answer is
//! structured; the caller parses it again.

use super::{Answer, Prompt, Provider, ProviderError, Shape, http_error, retry_after, transport};
use futures_util::future::BoxFuture;
use std::time::Duration;
use zeroize::Zeroizing;

/// The API version TradingBot speaks.
pub const VERSION: &str = "2023-06-01";

pub struct Anthropic {
    client: reqwest::Client,
    base_url: String,
    model: String,
    key: Zeroizing<String>,
    timeout: Duration,
}

impl Anthropic {
    pub fn new(base_url: &str, model: &str, key: Zeroizing<String>, timeout: Duration) -> Self {
        Self {
            client: crate::exchange::http::client(timeout),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            key,
            timeout,
        }
    }

    pub fn body(&self, prompt: &Prompt, shape: &Shape) -> serde_json::Value {
        serde_json::json!({
            "model": self.model,
            "max_tokens": 4096,
            "system": prompt.system,
            "messages": [ { "role": "user", "content": prompt.data.to_string() } ],
            "tools": [ {
                "name": shape.name,
                "description": shape.description,
                "input_schema": shape.schema
            } ],
            "tool_choice": { "type": "tool", "name": shape.name }
        })
    }

    async fn call(&self, prompt: &Prompt, shape: &Shape) -> Result<Answer, ProviderError> {
        let res = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("x-api-key", self.key.as_str())
            .header("anthropic-version", VERSION)
            .json(&self.body(prompt, shape))
            .send()
            .await
            .map_err(|e| transport(e, self.timeout))?;
        let status = res.status().as_u16();
        if status != 200 {
            let after = retry_after(&res);
            let text = res.text().await.unwrap_or_default();
            // 529: Anthropic is overloaded, a server-side condition.
            return Err(http_error(
                if status == 529 { 503 } else { status },
                after,
                &text,
            ));
        }
        let body: serde_json::Value = res.json().await.map_err(|e| match e.is_timeout() {
            true => ProviderError::Timeout(self.timeout.as_secs()),
            false => ProviderError::Invalid(format!("the body is not JSON: {}", e.without_url())),
        })?;
        let input = body["content"]
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|b| b["type"] == "tool_use" && b["name"] == shape.name)
            })
            .map(|b| &b["input"])
            .ok_or_else(|| {
                ProviderError::Invalid(format!("no `{}` tool call in the answer", shape.name))
            })?;
        let tokens = body["usage"]["input_tokens"].as_u64().unwrap_or(0)
            + body["usage"]["output_tokens"].as_u64().unwrap_or(0);
        Ok(Answer {
            value: input.clone(),
            tokens,
        })
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn ask<'a>(
        &'a self,
        prompt: &'a Prompt,
        shape: &'a Shape,
    ) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        Box::pin(self.call(prompt, shape))
    }
}
