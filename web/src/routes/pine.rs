//! `/api/v1/pine-script/*`: the template library behind the onboarding.

use actix_web::HttpResponse;
use serde::Serialize;
use tradingbot_backtest::cards::{CardStats, card_stats};
use tradingbot_core::templates::{self, Difficulty, ParamSpec};
use utoipa::ToSchema;

/// A template's card.
#[derive(Serialize, ToSchema)]
pub struct TemplateCard {
    /// What a strategy's `indicator_id` names.
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// `beginner`, `intermediate` or `advanced`.
    #[schema(value_type = String)]
    pub difficulty: Difficulty,
    /// Each with `name`, `title`, `type` (`int`, `float`, `choice`), its
    /// range (`min`, `max`, `step`) or `options`, and `default`.
    #[schema(value_type = Vec<Object>)]
    pub parameters: Vec<ParamSpec>,
    /// Percent of trades won by the defaults on the bundled data, as the
    /// backtester computed it at start-up.
    pub win_rate: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub backtest: Option<CardStats>,
}

/// The template library
#[utoipa::path(get, path = "/api/v1/pine-script/strategies", tag = "pine-script",
    responses((status = 200, body = [TemplateCard])))]
pub async fn strategies() -> HttpResponse {
    let cards: Vec<TemplateCard> = templates::library()
        .into_iter()
        .map(|t| {
            let stats = card_stats(t.id);
            TemplateCard {
                id: t.id,
                name: t.name,
                description: t.description,
                difficulty: t.difficulty,
                parameters: t.params,
                win_rate: stats.as_ref().map(|s| s.win_rate),
                backtest: stats,
            }
        })
        .collect();
    HttpResponse::Ok().json(cards)
}

#[derive(serde::Deserialize, ToSchema)]
pub struct CustomizeRequest {
    /// Your strategy: its secret, webhook URL, size, leverage and TP/SL go
    /// into the script. Without it the answer is a preview for a strategy
    /// not saved yet: its settings come from the fields below (the seed's
    /// defaults where missing) and the webhook secret and URL are
    /// placeholders (`placeholders`) to replace once the strategy is saved.
    #[schema(minimum = 1)]
    pub strategy_id: Option<i64>,
    /// A template id; default: the strategy's `indicator_id`.
    #[schema(pattern = r"\S")]
    pub template_id: Option<String>,
    /// Template parameters by name; missing ones take their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Preview only: the strategy form's fields.
    pub name: Option<String>,
    pub indicator_id: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub investment_pct: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub long_tp_pct: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub long_sl_pct: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub short_tp_pct: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub short_sl_pct: Option<serde_json::Value>,
    pub leverage: Option<i64>,
    pub symbol: Option<String>,
}

/// What stands for the webhook secret in a preview's script.
pub const PREVIEW_SECRET: &str = "YOUR_WEBHOOK_SECRET";
/// What stands for the webhook's token in a preview's URL.
pub const PREVIEW_TOKEN: &str = "YOUR_WEBHOOK_TOKEN";

impl CustomizeRequest {
    /// The preview's strategy form, checked like a creation.
    fn draft(&self) -> Result<tradingbot_core::strategy::StrategyConfig, crate::problem::ApiError> {
        let mut form = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                form.insert(k.to_owned(), v);
            }
        };
        put("name", self.name.clone().map(Into::into));
        put(
            "indicator_id",
            self.indicator_id
                .clone()
                .or_else(|| self.template_id.clone())
                .map(Into::into),
        );
        put("investment_pct", self.investment_pct.clone());
        put("long_tp_pct", self.long_tp_pct.clone());
        put("long_sl_pct", self.long_sl_pct.clone());
        put("short_tp_pct", self.short_tp_pct.clone());
        put("short_sl_pct", self.short_sl_pct.clone());
        put("leverage", self.leverage.map(Into::into));
        put("symbol", self.symbol.clone().map(Into::into));
        let draft: tradingbot_core::strategy::StrategyDraft =
            serde_json::from_value(serde_json::Value::Object(form)).map_err(|e| {
                crate::problem::ApiError::invalid("body", format!("strategy fields: {e}"))
            })?;
        tradingbot_core::strategy::StrategyConfig::from_draft(
            &draft.with_creation_defaults(&[]),
            None,
        )
        .map_err(|errors| {
            crate::problem::ApiError::Validation(
                errors
                    .into_iter()
                    .map(|e| crate::problem::FieldError::new(e.field, e.message))
                    .collect(),
            )
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustomizeResponse {
    pub template_id: &'static str,
    #[schema(value_type = Object)]
    pub params: std::collections::BTreeMap<&'static str, tradingbot_core::templates::ParamValue>,
    /// Pine Script v6, ready to paste into TradingView's Pine Editor.
    pub script: String,
    /// What the alert's Message box must hold.
    pub alert_message: &'static str,
    pub webhook_url: String,
    pub setup_steps: Vec<String>,
    /// `true` when made without a saved strategy.
    pub preview: bool,
    /// Preview only: the stand-ins the script holds, to be replaced by the
    /// saved strategy's `webhook_secret` and webhook URL's token (or ask
    /// again with `strategy_id`).
    pub placeholders: Vec<&'static str>,
}

/// Pine Script for a template and your strategy
#[utoipa::path(post, path = "/api/v1/pine-script/customize", tag = "pine-script",
    security(("bearer" = [])), request_body = CustomizeRequest,
    responses((status = 200, body = CustomizeResponse), (status = 404, description = "not your strategy"),
        (status = 422, description = "`validation_failed`: unknown template or bad parameters (by name)")))]
pub async fn customize(
    state: actix_web::web::Data<crate::state::AppState>,
    user: crate::auth::AuthUser,
    body: crate::extract::Json<CustomizeRequest>,
) -> Result<HttpResponse, crate::problem::ApiError> {
    let body = body.into_inner();
    let answer = match body.strategy_id {
        Some(id) => {
            script_for(
                &state,
                user.id,
                id,
                body.template_id.as_deref(),
                &body.params,
            )
            .await?
        }
        None => preview_for(
            &state,
            &body.draft()?,
            body.template_id.as_deref(),
            &body.params,
        )?,
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// The template's parameters checked, by name.
fn configure(
    cfg: &tradingbot_core::strategy::StrategyConfig,
    template_id: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<(templates::Template, templates::Configured), crate::problem::ApiError> {
    use crate::problem::{ApiError, FieldError};
    let id = template_id.unwrap_or(&cfg.indicator_id).trim().to_owned();
    let Some(t) = templates::find(&id) else {
        let ids: Vec<&str> = templates::library().iter().map(|t| t.id).collect();
        return Err(ApiError::invalid(
            "template_id",
            format!(
                "one of {} (the strategy's indicator is `{id}`)",
                ids.join(", ")
            ),
        ));
    };
    let configured = t.configure(params).map_err(|errors| {
        ApiError::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.field, e.message))
                .collect(),
        )
    })?;
    Ok((t, configured))
}

fn target<'a>(
    cfg: &tradingbot_core::strategy::StrategyConfig,
    name: &'a str,
    secret: &'a str,
    webhook_url: &'a str,
) -> tradingbot_core::pine::PineTarget<'a> {
    tradingbot_core::pine::PineTarget {
        name,
        secret,
        webhook_url,
        investment_pct: cfg.investment_pct,
        sizing: cfg.sizing,
        leverage: cfg.leverage,
        long_tp_pct: cfg.long_tp_pct,
        long_sl_pct: cfg.long_sl_pct,
        short_tp_pct: cfg.short_tp_pct,
        short_sl_pct: cfg.short_sl_pct,
        ladder: cfg.ladder.clone(),
        trailing: cfg.trailing,
    }
}

/// The script for a strategy form not saved yet: the webhook's secret and
/// token are placeholders.
fn preview_for(
    state: &crate::state::AppState,
    cfg: &tradingbot_core::strategy::StrategyConfig,
    template_id: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<CustomizeResponse, crate::problem::ApiError> {
    let (t, configured) = configure(cfg, template_id, params)?;
    let webhook_url = format!(
        "{}/api/v1/webhook/tradingview/{PREVIEW_TOKEN}",
        state.public_url.trim_end_matches('/'),
    );
    let p = tradingbot_core::pine::generate(
        &t,
        &configured,
        &target(cfg, &cfg.name, PREVIEW_SECRET, &webhook_url),
    );
    Ok(CustomizeResponse {
        template_id: t.id,
        params: configured.params,
        script: p.script,
        alert_message: p.alert_message,
        webhook_url: p.webhook_url,
        setup_steps: p.setup_steps,
        preview: true,
        placeholders: vec![PREVIEW_SECRET, PREVIEW_TOKEN],
    })
}

/// The script of a template (default: the strategy's own indicator) with
/// `params`, for one of the user's strategies.
async fn script_for(
    state: &crate::state::AppState,
    user_id: i64,
    strategy_id: i64,
    template_id: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<CustomizeResponse, crate::problem::ApiError> {
    let m = state.strategies.get(user_id, strategy_id).await?;
    let cfg = tradingbot_actors::strategies::config_of(&m);
    let (t, configured) = configure(&cfg, template_id, params)?;
    let hook = state.strategies.webhook(m.id).await?;
    let webhook_url = format!(
        "{}/api/v1/webhook/tradingview/{}",
        state.public_url.trim_end_matches('/'),
        hook.token.as_str()
    );
    let p = tradingbot_core::pine::generate(
        &t,
        &configured,
        &target(&cfg, &m.name, hook.secret.as_str(), &webhook_url),
    );
    Ok(CustomizeResponse {
        template_id: t.id,
        params: configured.params,
        script: p.script,
        alert_message: p.alert_message,
        webhook_url: p.webhook_url,
        setup_steps: p.setup_steps,
        preview: false,
        placeholders: Vec::new(),
    })
}

/// The shape; the template and its parameters are checked against the
/// library in the handler, by name.
impl crate::extract::Validate for CustomizeRequest {
    fn validate(&self) -> Vec<crate::problem::FieldError> {
        let mut errors = Vec::new();
        if self.strategy_id.is_some_and(|id| id <= 0) {
            errors.push(crate::problem::FieldError::new(
                "strategy_id",
                "a strategy id, or leave it out for a preview",
            ));
        }
        if self
            .template_id
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            errors.push(crate::problem::FieldError::new(
                "template_id",
                "a template id, or leave it out for the strategy's own",
            ));
        }
        errors
    }
}

#[derive(serde::Deserialize, ToSchema)]
pub struct GenerateRequest {
    /// A few words: "EMA crossover 12/26", "RSI 오버솔드 반전", … (at most
    /// 500 characters).
    #[schema(max_length = 500, pattern = r"\S")]
    pub description: String,
    /// With a strategy, the script carries its secret, URL and settings;
    /// without, it is a preview with placeholders (`placeholders`).
    #[schema(minimum = 1)]
    pub strategy_id: Option<i64>,
}

impl crate::extract::Validate for GenerateRequest {
    fn validate(&self) -> Vec<crate::problem::FieldError> {
        let d = self.description.trim();
        if d.is_empty() || d.chars().count() > 500 {
            vec![crate::problem::FieldError::new(
                "description",
                "1 to 500 characters describing the strategy",
            )]
        } else {
            Vec::new()
        }
    }
}

/// A strategy from a description
///
/// With an AI provider configured, the model writes a Pine Script v6
/// strategy in TradingBot's alert format; TradingBot parses and analyses
/// it, gives the model one retry with the findings, and answers
/// `"source": "llm"` with the analysis. Without keys — or when the model's
/// script still fails — the closest template is chosen and parameterised
/// (deterministic, offline; English and Korean keywords) and the answer
/// says `"source": "template"`. The webhook secret is never sent to a
/// model: scripts carry a placeholder that TradingBot replaces.
#[utoipa::path(post, path = "/api/v1/pine-script/generate", tag = "pine-script",
    security(("bearer" = [])), request_body = GenerateRequest,
    responses((status = 200, description = "source (`llm` or `template`), script and analysis, or template_id, params, confidence, reason"),
        (status = 422, description = "`no_match`: nothing in the description points at a template")))]
pub async fn generate(
    state: actix_web::web::Data<crate::state::AppState>,
    user: crate::auth::AuthUser,
    body: crate::extract::Json<GenerateRequest>,
) -> Result<HttpResponse, crate::problem::ApiError> {
    let body = body.into_inner();
    // Resolve the strategy first: someone else's is a 404 on either path.
    let target = match body.strategy_id {
        Some(id) => {
            let m = state.strategies.get(user.id, id).await?;
            let hook = state.strategies.webhook(m.id).await?;
            Some((m, hook))
        }
        None => None,
    };
    let mut llm_report = serde_json::Value::Null;
    if !state.advisor.providers().is_empty() {
        match llm_script(&state, &body.description, target.as_ref()).await {
            Ok(answer) => return Ok(HttpResponse::Ok().json(answer)),
            Err(report) => llm_report = report,
        }
    }
    let Some(s) = templates::suggest(&body.description) else {
        let names: Vec<&str> = templates::library().iter().map(|t| t.name).collect();
        let mut extensions = serde_json::Map::new();
        if !llm_report.is_null() {
            extensions.insert("llm".into(), llm_report);
        }
        return Err(crate::problem::ApiError::Other {
            status: 422,
            code: "no_match".into(),
            detail: format!(
                "Nothing in the description points at a template; mention one of: {}.",
                names.join(", ")
            ),
            extensions,
        });
    };
    let mut answer = serde_json::json!({
        "source": "template",
        "template_id": s.template_id,
        "params": s.configured.params,
        "confidence": s.confidence,
        "reason": s.reason,
    });
    if !llm_report.is_null() {
        answer["llm"] = llm_report;
    }
    let params = serde_json::to_value(&s.configured.params)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    // Without a strategy: a preview with the template's name and the seed's
    // settings, secret and token as placeholders.
    let script = match body.strategy_id {
        Some(strategy_id) => {
            script_for(&state, user.id, strategy_id, Some(s.template_id), &params).await?
        }
        None => {
            let draft = tradingbot_core::strategy::StrategyDraft {
                indicator_id: Some(s.template_id.to_owned()),
                ..Default::default()
            };
            let cfg = tradingbot_core::strategy::StrategyConfig::from_draft(
                &draft.with_creation_defaults(&[]),
                None,
            )
            .map_err(|_| crate::problem::ApiError::invalid("description", "no template"))?;
            preview_for(&state, &cfg, Some(s.template_id), &params)?
        }
    };
    answer["script"] = script.script.into();
    answer["alert_message"] = script.alert_message.into();
    answer["webhook_url"] = script.webhook_url.into();
    answer["setup_steps"] = script.setup_steps.into();
    answer["preview"] = script.preview.into();
    answer["placeholders"] = script.placeholders.into();
    Ok(HttpResponse::Ok().json(answer))
}

/// Stands for the webhook secret in what models write.
const SECRET_PLACEHOLDER: &str = "__TRADINGBOT_SECRET__";

const PINE_SYSTEM: &str = "You write TradingView Pine Script v6 strategies for TradingBot, which trades \
crypto futures from TradingView alerts. Write one complete script: `//@version=6`, one `strategy()` \
declaration, `input.*()` for every tunable number, and `strategy.entry`/`strategy.close`/`strategy.exit` \
calls whose `alert_message` is TradingBot's webhook JSON built as a string, for example \
'{\"secret\": \"__TRADINGBOT_SECRET__\", \"action\": \"buy\", \"market_position\": \"long\", \
\"symbol\": \"{{ticker}}\", \"price\": \"{{close}}\", \"timestamp\": \"{{timenow}}\"}'. Use exactly \
__TRADINGBOT_SECRET__ as the secret (TradingBot replaces it); actions are buy, sell, close_long, close_short. \
Use 4 spaces for blocks. Answer with the script and a short explanation.";

fn pine_shape() -> tradingbot_actors::advisor::Shape {
    tradingbot_actors::advisor::Shape {
        name: "pine_script",
        description: "Record the Pine Script strategy and a short explanation.",
        schema: serde_json::json!({
            "type": "object",
            "properties": {
                "script": { "type": "string" },
                "explanation": { "type": "string" }
            },
            "required": ["script", "explanation"],
            "additionalProperties": false
        }),
    }
}

/// The model's script, checked; one retry with the findings. `Err`: what
/// went wrong, for the answer's `llm` field.
async fn llm_script(
    state: &crate::state::AppState,
    description: &str,
    target: Option<&(
        tradingbot_actors::store::entities::strategies::Model,
        tradingbot_actors::strategies::Webhook,
    )>,
) -> Result<serde_json::Value, serde_json::Value> {
    use tradingbot_actors::advisor::Prompt;
    let settings = target.map(|(m, _)| {
        let c = tradingbot_actors::strategies::config_of(m);
        serde_json::json!({
            "symbols": c.symbols.iter().map(|s| s.as_str().to_owned()).collect::<Vec<_>>(),
            "investment_pct": c.investment_pct, "leverage": c.leverage,
            "long_tp_pct": c.long_tp_pct, "long_sl_pct": c.long_sl_pct,
            "short_tp_pct": c.short_tp_pct, "short_sl_pct": c.short_sl_pct,
        })
    });
    let secret = target.map(|(_, h)| h.secret.as_str().to_owned());
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut data = serde_json::json!({ "description": description, "strategy": settings });
    let mut attempts = Vec::new();
    for attempt in 1..=2 {
        let prompt = Prompt {
            system: PINE_SYSTEM.to_owned(),
            data: data.clone(),
        };
        let (provider, value) = match state.advisor.generate(&prompt, &pine_shape()).await {
            Ok(v) => v,
            Err(missing) => {
                attempts.push(serde_json::json!({ "attempt": attempt, "error": missing }));
                break;
            }
        };
        let written = value["script"].as_str().unwrap_or_default().to_owned();
        let explanation = value["explanation"].as_str().unwrap_or_default().to_owned();
        let script = match &secret {
            Some(s) => written.replace(SECRET_PLACEHOLDER, s),
            None => written.replace(SECRET_PLACEHOLDER, PREVIEW_SECRET),
        };
        let ctx = tradingbot_core::pine::Context {
            now_iso: &now,
            expected_secret: secret.as_deref().map(str::as_bytes),
        };
        let problems = match tradingbot_core::pine::analyze(&script, &ctx) {
            Ok(a) if a.webhook_ready => {
                let mut answer = serde_json::json!({
                    "source": "llm",
                    "provider": provider,
                    "attempts": attempt,
                    "script": script,
                    "explanation": explanation,
                    "analysis": a,
                    "alert_message": "{{strategy.order.alert_message}}",
                });
                let token = target.map_or(PREVIEW_TOKEN, |(_, hook)| hook.token.as_str());
                answer["webhook_url"] = format!(
                    "{}/api/v1/webhook/tradingview/{token}",
                    state.public_url.trim_end_matches('/'),
                )
                .into();
                answer["preview"] = target.is_none().into();
                answer["placeholders"] = if target.is_none() {
                    serde_json::json!([PREVIEW_SECRET, PREVIEW_TOKEN])
                } else {
                    serde_json::json!([])
                };
                return Ok(answer);
            }
            Ok(a) => serde_json::json!({
                "findings": a.findings,
                "webhook_ready": a.webhook_ready,
            }),
            Err(e) => {
                serde_json::json!({ "syntax_error": { "line": e.line, "column": e.column, "message": e.message } })
            }
        };
        attempts.push(
            serde_json::json!({ "attempt": attempt, "provider": provider, "problems": problems }),
        );
        // The retry sees its own script (with the placeholder) and why it failed.
        data["previous_script"] = written.into();
        data["problems"] = problems;
    }
    Err(serde_json::json!({ "attempts": attempts }))
}

/// Scripts are text; TradingView's own editor stops well below this.
pub const ANALYZE_BODY_LIMIT: usize = 512 * 1024;

#[derive(serde::Deserialize, ToSchema)]
pub struct AnalyzeRequest {
    /// The Pine Script source, as pasted from TradingView's Pine Editor.
    #[schema(pattern = r"\S")]
    pub script: String,
    /// With a strategy, alert messages are also checked against its
    /// webhook secret (never echoed back).
    #[schema(minimum = 1)]
    pub strategy_id: Option<i64>,
}

impl crate::extract::Validate for AnalyzeRequest {
    fn validate(&self) -> Vec<crate::problem::FieldError> {
        let mut errors = Vec::new();
        if self.script.trim().is_empty() {
            errors.push(crate::problem::FieldError::new(
                "script",
                "the Pine Script source",
            ));
        }
        if self.strategy_id.is_some_and(|id| id <= 0) {
            errors.push(crate::problem::FieldError::new(
                "strategy_id",
                "a strategy id, or leave it out",
            ));
        }
        errors
    }
}

/// Read your own Pine Script
///
/// Version, declaration, inputs with their defaults, every
/// `strategy.entry`/`exit`/`close`/`order`, `alert` and `alertcondition`
/// call with its line, and whether each alert message is JSON TradingBot's
/// webhook accepts; findings carry line numbers and stable codes.
#[utoipa::path(post, path = "/api/v1/pine-script/analyze", tag = "pine-script",
    security(("bearer" = [])), request_body = AnalyzeRequest,
    responses((status = 200, description = "version, declaration, inputs, calls, webhook_ready, findings"),
        (status = 404, description = "not your strategy"),
        (status = 422, description = "`pine_syntax_error` with `line` and `column`")))]
pub async fn analyze(
    state: actix_web::web::Data<crate::state::AppState>,
    user: crate::auth::AuthUser,
    body: crate::extract::Json<AnalyzeRequest>,
) -> Result<HttpResponse, crate::problem::ApiError> {
    let body = body.into_inner();
    let secret = match body.strategy_id {
        Some(id) => {
            let m = state.strategies.get(user.id, id).await?;
            Some(state.strategies.webhook(m.id).await?.secret)
        }
        None => None,
    };
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let script = body.script;
    let analysis = actix_web::web::block(move || {
        tradingbot_core::pine::analyze(
            &script,
            &tradingbot_core::pine::Context {
                now_iso: &now,
                expected_secret: secret.as_ref().map(|s| s.as_str().as_bytes()),
            },
        )
    })
    .await
    .map_err(crate::problem::ApiError::internal)?;
    match analysis {
        Ok(a) => Ok(HttpResponse::Ok().json(a)),
        Err(e) => {
            let mut extensions = serde_json::Map::new();
            extensions.insert("line".into(), e.line.into());
            extensions.insert("column".into(), e.column.into());
            Err(crate::problem::ApiError::Other {
                status: 422,
                code: "pine_syntax_error".into(),
                detail: format!("The script does not parse: {e}."),
                extensions,
            })
        }
    }
}
