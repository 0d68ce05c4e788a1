//! Anthropic's messages API, made to answer through a tool whose input
//! schema is the wanted shape (`tool_choice` forces it), so the answer is
//! structured; the caller parses it again.

use super::{Answer, Endpoint, Prompt, Provider, ProviderError, Shape};
use futures_util::future::BoxFuture;
use std::time::Duration;
use zeroize::Zeroizing;

/// The API version TradingBot speaks.
pub const VERSION: &str = "2023-06-01";

pub struct Anthropic {
    ep: Endpoint,
}

impl Anthropic {
    pub fn new(base_url: &str, model: &str, key: Zeroizing<String>, timeout: Duration) -> Self {
        Self {
            ep: Endpoint::new(base_url, model, key, timeout),
        }
    }

    pub fn body(&self, prompt: &Prompt, shape: &Shape) -> serde_json::Value {
        serde_json::json!({
            "model": self.ep.model,
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
        let req = self
            .ep
            .post("/v1/messages")
            .header("x-api-key", self.ep.key.as_str())
            .header("anthropic-version", VERSION);
        let body = self.ep.send(req, &self.body(prompt, shape)).await?;
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
