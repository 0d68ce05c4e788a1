//! OpenAI's chat completions with a structured output: the answer must
//! match the wanted shape's schema (`response_format: json_schema`,
//! strict); the caller parses it again.

use super::{Answer, Endpoint, Prompt, Provider, ProviderError, Shape};
use futures_util::future::BoxFuture;
use std::time::Duration;
use zeroize::Zeroizing;

pub struct OpenAi {
    ep: Endpoint,
}

impl OpenAi {
    pub fn new(base_url: &str, model: &str, key: Zeroizing<String>, timeout: Duration) -> Self {
        Self {
            ep: Endpoint::new(base_url, model, key, timeout),
        }
    }

    /// The request body (public for the tests of the local server).
    pub fn body(&self, prompt: &Prompt, shape: &Shape) -> serde_json::Value {
        serde_json::json!({
            "model": self.ep.model,
            "messages": [
                { "role": "system", "content": prompt.system },
                { "role": "user", "content": prompt.data.to_string() }
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": shape.name, "strict": true, "schema": shape.schema }
            }
        })
    }

    async fn call(&self, prompt: &Prompt, shape: &Shape) -> Result<Answer, ProviderError> {
        let req = self
            .ep
            .post("/v1/chat/completions")
            .bearer_auth(self.ep.key.as_str());
        let body = self.ep.send(req, &self.body(prompt, shape)).await?;
        let message = &body["choices"][0]["message"];
        if let Some(refusal) = message["refusal"].as_str() {
            return Err(ProviderError::Invalid(format!(
                "the model refused: {}",
                refusal.chars().take(200).collect::<String>()
            )));
        }
        let content = message["content"]
            .as_str()
            .ok_or_else(|| ProviderError::Invalid("no message content".into()))?;
        let parsed: serde_json::Value = serde_json::from_str(content)
            .map_err(|e| ProviderError::Invalid(format!("the content is not JSON: {e}")))?;
        let tokens = body["usage"]["total_tokens"].as_u64().unwrap_or(0);
        Ok(Answer {
            value: parsed,
            tokens,
        })
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn ask<'a>(
        &'a self,
        prompt: &'a Prompt,
        shape: &'a Shape,
    ) -> BoxFuture<'a, Result<Answer, ProviderError>> {
        Box::pin(self.call(prompt, shape))
    }
}
