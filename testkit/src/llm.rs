//! Local OpenAI and Anthropic APIs: `POST /v1/chat/completions` and
//! `POST /v1/messages`, checking what the real services check (the key in
//! `Authorization: Bearer` / `x-api-key`, `anthropic-version`, the model,
//! `max_tokens`, and — for TradingBot's use — that the request asks for
//! the recommendation schema), answering with the documented response
//! shapes. Tests script the answers: a vote, garbage, an HTTP status, or
//! a delay.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
}

/// What the next request gets.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A well-formed answer carrying this object (a recommendation, or a
    /// generated script).
    Vote(Value),
    /// A 200 whose content is not the recommendation (prose, no tool call).
    Garbage,
    /// This status with the service's error body (`Retry-After: 7` on 429).
    Status(u16),
    /// Waits this long, then answers the default vote.
    Slow(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

struct State {
    api: Api,
    key: String,
    model: String,
    default_vote: Value,
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<State>>;

pub struct LocalLlm {
    pub url: String,
    state: Shared,
    server: actix_web::dev::ServerHandle,
}

impl LocalLlm {
    /// Starts a server for `api` that accepts `key` and `model`; answers
    /// `hold` with confidence 0.6 unless scripted.
    pub fn start(api: Api, key: &str, model: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            api,
            key: key.to_owned(),
            model: model.to_owned(),
            default_vote: json!({ "action": "hold", "confidence": 0.6, "reasons": ["nothing decisive"] }),
            script: VecDeque::new(),
            received: Vec::new(),
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
                let addr = listener.local_addr().expect("address");
                let data = web::Data::new(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(1 << 20))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send((format!("http://{addr}"), server.handle()))
                    .expect("report");
                let _ = server.await;
            });
        });
        let (url, server) = rx.recv().expect("local LLM API started");
        Self { url, state, server }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the reply to a coming request.
    pub fn script(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }

    /// What unscripted requests get.
    pub fn set_default_vote(&self, vote: Value) {
        self.lock().default_vote = vote;
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }
}

impl Drop for LocalLlm {
    fn drop(&mut self) {
        let h = self.server.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(h.stop(false));
        });
    }
}

fn openai_error(status: u16, kind: &str, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }))
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({ "type": "error", "error": { "type": kind, "message": message } }))
}

fn error(api: Api, status: u16) -> HttpResponse {
    let mut res = match (api, status) {
        (Api::OpenAi, 429) => openai_error(
            429,
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached.",
        ),
        (Api::OpenAi, s) => openai_error(
            s,
            "server_error",
            "server_error",
            "The server had an error.",
        ),
        (Api::Anthropic, 429) => anthropic_error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit.",
        ),
        (Api::Anthropic, s) => anthropic_error(s, "api_error", "Internal server error."),
    };
    if status == 429 {
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("7"),
        );
    }
    res
}

/// The request asks for one of TradingBot's objects by name: the
/// recommendation (`action`, `confidence`, `reasons`) or a Pine script
/// (`script`, `explanation`), all required, nothing else allowed.
fn schema_ok(name: &Value, schema: &Value) -> bool {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields: &[&str] = match name.as_str() {
        Some("recommendation") => &["action", "confidence", "reasons"],
        Some("pine_script") => &["script", "explanation"],
        _ => return false,
    };
    schema["type"] == "object"
        && fields.iter().all(|k| required.contains(k))
        && schema["additionalProperties"] == false
        && (name != "recommendation"
            || schema["properties"]["action"]["enum"]
                == json!(["hold", "close", "reduce", "reverse"]))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (api, key, model, reply, default_vote) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.received.push(Received {
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: parsed,
        });
        let reply = s.script.pop_front();
        (
            s.api,
            s.key.clone(),
            s.model.clone(),
            reply,
            s.default_vote.clone(),
        )
    };
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return match api {
            Api::OpenAi => openai_error(
                400,
                "invalid_request_error",
                "invalid_json",
                "We could not parse the JSON body of your request.",
            ),
            Api::Anthropic => anthropic_error(400, "invalid_request_error", "Invalid JSON body."),
        };
    };
    // Authentication and request shape, as the services check them.
    match api {
        Api::OpenAi => {
            if req.path() != "/v1/chat/completions" || req.method() != "POST" {
                return openai_error(
                    404,
                    "invalid_request_error",
                    "unknown_url",
                    "Unknown request URL.",
                );
            }
            if header("authorization") != Some(format!("Bearer {key}")) {
                return openai_error(
                    401,
                    "invalid_request_error",
                    "invalid_api_key",
                    "Incorrect API key provided.",
                );
            }
            if json["model"] != model.as_str() {
                return openai_error(
                    404,
                    "invalid_request_error",
                    "model_not_found",
                    "The model does not exist or you do not have access to it.",
                );
            }
            let roles: Vec<&str> = json["messages"]
                .as_array()
                .map(|m| m.iter().filter_map(|x| x["role"].as_str()).collect())
                .unwrap_or_default();
            let rf = &json["response_format"];
            if roles != ["system", "user"]
                || rf["type"] != "json_schema"
                || rf["json_schema"]["strict"] != true
                || !schema_ok(&rf["json_schema"]["name"], &rf["json_schema"]["schema"])
            {
                return openai_error(
                    400,
                    "invalid_request_error",
                    "invalid_request",
                    "Expected a system and a user message and the recommendation json_schema.",
                );
            }
        }
        Api::Anthropic => {
            if req.path() != "/v1/messages" || req.method() != "POST" {
                return anthropic_error(404, "not_found_error", "Not found.");
            }
            if header("x-api-key").as_deref() != Some(key.as_str()) {
                return anthropic_error(401, "authentication_error", "invalid x-api-key");
            }
            if header("anthropic-version").as_deref() != Some("2023-06-01") {
                return anthropic_error(
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                );
            }
            if json["model"] != model.as_str() {
                return anthropic_error(404, "not_found_error", "model: not found");
            }
            if json["max_tokens"].as_u64().is_none_or(|m| m == 0) {
                return anthropic_error(400, "invalid_request_error", "max_tokens: Field required");
            }
            let tool = &json["tools"][0];
            if !schema_ok(&tool["name"], &tool["input_schema"])
                || json["tool_choice"] != json!({ "type": "tool", "name": tool["name"] })
            {
                return anthropic_error(
                    400,
                    "invalid_request_error",
                    "Expected a TradingBot tool, forced.",
                );
            }
        }
    }
    let vote = match reply {
        None => default_vote,
        Some(Reply::Vote(v)) => v,
        Some(Reply::Status(s)) => return error(api, s),
        Some(Reply::Slow(d)) => {
            actix_web::rt::time::sleep(d).await;
            default_vote
        }
        Some(Reply::Garbage) => {
            return HttpResponse::Ok().json(match api {
                Api::OpenAi => json!({ "id": "chatcmpl-test", "object": "chat.completion", "model": model,
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": "I think you should probably hold, maybe.", "refusal": null }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112 } }),
                Api::Anthropic => json!({ "id": "msg_test", "type": "message", "role": "assistant", "model": model,
                    "content": [{ "type": "text", "text": "I think you should probably hold, maybe." }],
                    "stop_reason": "end_turn", "usage": { "input_tokens": 100, "output_tokens": 12 } }),
            });
        }
    };
    HttpResponse::Ok().json(match api {
        Api::OpenAi => json!({ "id": "chatcmpl-test", "object": "chat.completion", "created": crate::now_ms() / 1000, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": vote.to_string(), "refusal": null }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150 } }),
        Api::Anthropic => json!({ "id": "msg_test", "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "tool_use", "id": "toolu_test", "name": json["tools"][0]["name"], "input": vote }],
            "stop_reason": "tool_use", "usage": { "input_tokens": 120, "output_tokens": 30 } }),
    })
}
