//! The OpenAPI document of the API, generated from the handlers' annotations
//! so it cannot drift from the code.

use crate::routes::{
    accounts, admin, analysis, audit, auth, backtest, dashboard, health, market, notifications,
    performance, pine, positions, risk, security_alerts, simulate, strategies, telegram, trading,
    two_factor, users, views, webhook,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// Declares the bearer-token scheme the protected routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The errors every operation can answer, as the extractors and middleware
/// give them — all `application/problem+json` with a stable `code` — added
/// to each operation that does not describe them itself, so a client (and a
/// conformance run) knows every status it may meet.
struct ErrorResponses;

fn problem(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                crate::problem::CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Operation ids from the method and path: unique (the handlers'
            // names repeat across modules: `list`, `get`, …), so a
            // generated client has one function per operation.
            let name = path
                .trim_start_matches("/api/v1/")
                .split('/')
                .map(
                    |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(param) => format!("by_{param}"),
                        None => seg.replace('-', "_"),
                    },
                )
                .collect::<Vec<_>>()
                .join("_");
            for (method, op) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ] {
                if let Some(op) = op {
                    op.operation_id = Some(format!("{method}_{name}"));
                }
            }
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                // A route's own error bodies declared as `Problem` go out as
                // problem+json, not application/json.
                for (status, r) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(r)) = (status.starts_with(['4', '5']), r)
                        && let Some(c) = r.content.get("application/json")
                        && serde_json::to_value(c)
                            .is_ok_and(|v| v["schema"]["$ref"] == "#/components/schemas/Problem")
                        && let Some(c) = r.content.shift_remove("application/json")
                    {
                        r.content.insert(crate::problem::CONTENT_TYPE.to_owned(), c);
                    }
                }
                let mut add: Vec<(&str, &str)> = vec![
                    (
                        "422",
                        "`validation_failed`: a field, query or path value is invalid (`errors` names each)",
                    ),
                    (
                        "429",
                        "`rate_limited`: too many requests; `Retry-After` says when to try again",
                    ),
                    ("500", "`internal_error`"),
                ];
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add.push((
                        "401",
                        "`missing_token`, `invalid_token`, `token_expired` or `token_revoked`",
                    ));
                }
                if op.request_body.is_some() {
                    add.push(("400", "`malformed_json`"));
                    add.push(("413", "`payload_too_large`"));
                    add.push(("415", "`unsupported_media_type`: send `application/json`"));
                }
                // A path id, or an id in the body (`strategy_id`, …), may
                // name nothing of the caller's.
                if path.contains('{') || op.request_body.is_some() {
                    add.push(("404", "`not_found`: no such object, or not yours"));
                }
                for (status, description) in add {
                    let responses = &mut op.responses.responses;
                    match responses.get_mut(status) {
                        None => {
                            responses.insert(status.to_owned(), problem(description));
                        }
                        // Described by the route but without a body: the
                        // body is a problem all the same.
                        Some(RefOr::T(r)) if r.content.is_empty() => {
                            r.content.insert(
                                crate::problem::CONTENT_TYPE.to_owned(),
                                RefOr::T(
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("Problem")))
                                        .build(),
                                ),
                            );
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TradingBot API",
        description = "Turns TradingView alerts into risk-checked leveraged futures orders on \
                       Binance and OKX, and reports what happened. Errors are \
                       `application/problem+json` with a stable `code`. Protected routes \
                       take `Authorization: Bearer <access token>`.",
    ),
    paths(
        health::health,
        auth::register,
        auth::verify_email,
        auth::resend_verification,
        auth::login,
        auth::verify_2fa,
        auth::refresh,
        auth::logout,
        auth::sessions,
        auth::revoke_session,
        two_factor::setup_2fa,
        two_factor::enable_2fa,
        two_factor::disable_2fa,
        users::me,
        users::update_me,
        users::delete_me,
        security_alerts::get,
        security_alerts::put,
        audit::list,
        admin::list_users,
        admin::deactivate_user,
        accounts::register,
        accounts::list,
        accounts::get,
        accounts::update,
        accounts::delete,
        accounts::test,
        strategies::create,
        strategies::list,
        strategies::get,
        strategies::update,
        strategies::delete,
        strategies::activate,
        strategies::deactivate,
        strategies::rotate_secret,
        webhook::tradingview,
        trading::positions,
        trading::position,
        positions::close,
        pine::strategies,
        pine::customize,
        pine::generate,
        pine::analyze,
        backtest::start,
        backtest::get,
        backtest::list,
        simulate::simulate_any,
        dashboard::summary,
        dashboard::equity_history,
        notifications::insights,
        notifications::list,
        notifications::unread_count,
        notifications::mark_read,
        notifications::read_all,
        dashboard::balance,
        simulate::simulate_saved,
        analysis::patterns,
        analysis::volume_profile,
        analysis::fractal,
        analysis::recommendation,
        market::candles,
        telegram::register,
        telegram::get,
        telegram::delete,
        telegram::test,
        crate::ws::connect,
        positions::history,
        performance::summary,
        performance::daily,
        performance::weekly,
        performance::monthly,
        trading::orders,
        trading::signals,
        risk::get,
        risk::update,
        risk::kill_switch,
        risk::global_get,
        risk::global_set,
        risk::user_set,
    ),
    components(schemas(
        crate::problem::Problem,
        crate::problem::FieldError,
        strategies::StrategyView,
        strategies::StrategyTarget,
        strategies::StrategyRequest,
        strategies::RotateBody,
        webhook::WebhookAnswer,
        trading::PositionView,
        trading::PositionTarget,
        market::CandleView,
        market::CandlesView,
        notifications::NotificationView,
        notifications::UnreadView,
        notifications::ReadAllRequest,
        notifications::ReadAllView,
        notifications::InsightsView,
        notifications::PositionInsight,
        notifications::SymbolInsight,
        notifications::InsightView,
        dashboard::EquityView,
        dashboard::EquityPointView,
        dashboard::AccountEquityView,
        positions::CloseView,
        pine::TemplateCard,
        pine::CustomizeRequest,
        pine::CustomizeResponse,
        pine::GenerateRequest,
        pine::AnalyzeRequest,
        backtest::BacktestRequest,
        simulate::SimulateRequest,
        telegram::RegisterRequest,
        telegram::TelegramView,
        performance::SeriesView,
        trading::OrderView,
        trading::SignalView,
        risk::RiskView,
        risk::LimitsBody,
        risk::SwitchBody,
        risk::GlobalSwitchView,
        health::Health,
        health::ComponentHealth,
        health::ClusterHealth,
        views::UserView,
        auth::RegisterRequest,
        auth::LoginRequest,
        auth::Verify2faRequest,
        auth::RefreshRequest,
        auth::LogoutRequest,
        auth::VerifyEmailRequest,
        two_factor::CodeRequest,
        two_factor::Disable2faRequest,
        auth::TokenResponse,
        auth::ChallengeResponse,
        two_factor::TwoFactorSetup,
        two_factor::RecoveryCodes,
        auth::SessionView,
        users::UpdateMeRequest,
        users::UpdateMeResponse,
        users::DeleteMeRequest,
        security_alerts::AlertSettings,
        security_alerts::AlertSetting,
        security_alerts::AlertChannels,
        audit::AuditEvent,
        accounts::RegisterAccount,
        accounts::UpdateAccount,
        accounts::AccountView,
        accounts::BalanceView,
        accounts::PermissionsView,
    )),
    modifiers(&BearerAuth, &ErrorResponses),
    tags(
        (name = "service", description = "Health and operations"),
        (name = "auth", description = "Registration, login, sessions, two-factor authentication"),
        (name = "users", description = "Your account and its security events"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "accounts", description = "Exchange accounts (Binance, OKX, paper)"),
        (name = "trading", description = "Positions, orders and signals"),
        (name = "performance", description = "Statistics of closed positions"),
        (name = "telegram", description = "Your Telegram notification bot"),
        (name = "pine-script", description = "Indicator templates and Pine Script"),
        (name = "backtest", description = "Backtests as background jobs"),
        (name = "dashboard", description = "The dashboard's cards"),
        (name = "notifications", description = "What you were told: PnL steps, risk and security alerts, AI recommendations"),
        (name = "market", description = "Candles for the price chart"),
        (name = "analysis", description = "Chart patterns, volume profile, fractal analysis, recommendations"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every `{name}` of a path is a declared path parameter of each of its
    /// operations, and every operation lists its problem answers.
    #[test]
    fn paths_declare_their_parameters_and_errors() {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let mut missing = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
                .collect();
            for (method, op) in item.as_object().unwrap() {
                for name in &names {
                    let declared =
                        op["parameters"].as_array().into_iter().flatten().any(|p| {
                            p["in"] == "path" && p["name"] == *name && p["required"] == true
                        });
                    if !declared {
                        missing.push(format!("{method} {path}: {{{name}}}"));
                    }
                }
                for status in ["422", "429", "500"] {
                    let r = &op["responses"][status];
                    if r["content"]["application/problem+json"].is_null() {
                        missing.push(format!("{method} {path}: {status}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// Operation ids are unique, and query parameters are documented in the
    /// query (not the path).
    #[test]
    fn operation_ids_are_unique_and_parameters_where_they_are_read() {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice ({method} {path})");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: `{name}` is not in the path"
                        );
                    }
                }
            }
        }
        assert!(ids.contains("get_positions_history"), "{ids:?}");
        assert!(ids.contains("post_positions_by_id_close"), "{ids:?}");
    }

    /// Two bodies of the same Rust name would share one component (the last
    /// registered wins): registration once documented a Telegram token.
    #[test]
    fn each_body_documents_its_own_fields() {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let body = |path: &str| {
            let schema =
                &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
            let name = schema["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or_else(|| panic!("{path}: {schema}"));
            doc["components"]["schemas"][name]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(body("/api/v1/auth/register"), ["email", "password"]);
        assert_eq!(body("/api/v1/telegram/register"), ["bot_token"]);
    }
}
