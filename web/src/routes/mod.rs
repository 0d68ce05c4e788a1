//! HTTP routes, one module per area of the API. Handlers parse, call the
//! domain or the actors, and shape the answer; they hold no business rules.

pub mod accounts;
pub mod admin;
pub mod analysis;
pub mod audit;
pub mod auth;
pub mod backtest;
pub mod dashboard;
pub mod docs;
pub mod health;
mod identity_errors;
pub mod listing;
pub mod market;
pub mod metrics;
pub mod notifications;
pub mod params;
pub mod performance;
pub mod pine;
pub mod positions;
pub mod risk;
pub mod security_alerts;
pub mod simulate;
mod sizing;
pub mod strategies;
pub mod telegram;
pub mod trading;
pub mod two_factor;
pub mod users;
pub mod views;
pub mod webhook;

use crate::problem::ApiError;
use actix_web::web;

/// Mounts every route. Each path is one `Resource`, so a wrong method gets
/// 405 with `Allow` rather than 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Between the instances of a deployment only (nginx does not pass it).
    cfg.service(web::resource("/internal/v1/signals").route(web::post().to(webhook::forwarded)));
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::resource("/openapi.json").route(web::get().to(docs::openapi_json)))
            .service(docs::swagger_ui())
            .service(
                web::scope("/auth")
                    .service(web::resource("/register").route(web::post().to(auth::register)))
                    .service(
                        web::resource("/verify-email").route(web::post().to(auth::verify_email)),
                    )
                    .service(
                        web::resource("/resend-verification")
                            .route(web::post().to(auth::resend_verification)),
                    )
                    .service(web::resource("/login").route(web::post().to(auth::login)))
                    .service(web::resource("/verify-2fa").route(web::post().to(auth::verify_2fa)))
                    .service(web::resource("/refresh").route(web::post().to(auth::refresh)))
                    .service(web::resource("/logout").route(web::post().to(auth::logout)))
                    .service(web::resource("/sessions").route(web::get().to(auth::sessions)))
                    .service(
                        web::resource("/sessions/{id}")
                            .route(web::delete().to(auth::revoke_session)),
                    )
                    .service(
                        web::resource("/2fa/setup")
                            .route(web::get().to(two_factor::setup_2fa))
                            .route(web::post().to(two_factor::setup_2fa)),
                    )
                    .service(
                        web::resource("/2fa/enable").route(web::post().to(two_factor::enable_2fa)),
                    )
                    .service(
                        web::resource("/2fa/disable")
                            .route(web::post().to(two_factor::disable_2fa)),
                    ),
            )
            .service(
                web::resource("/users/me/security-alerts")
                    .route(web::get().to(security_alerts::get))
                    .route(web::put().to(security_alerts::put)),
            )
            .service(
                web::resource("/users/me")
                    .route(web::get().to(users::me))
                    .route(web::put().to(users::update_me))
                    .route(web::delete().to(users::delete_me)),
            )
            .service(web::resource("/audit").route(web::get().to(audit::list)))
            .service(
                web::scope("/accounts")
                    .service(web::resource("").route(web::get().to(accounts::list)))
                    .service(web::resource("/register").route(web::post().to(accounts::register)))
                    .service(
                        web::resource("/{id}")
                            .route(web::get().to(accounts::get))
                            .route(web::put().to(accounts::update))
                            .route(web::delete().to(accounts::delete)),
                    )
                    .service(web::resource("/{id}/test").route(web::post().to(accounts::test)))
                    .service(
                        web::resource("/{id}/balance").route(web::get().to(dashboard::balance)),
                    ),
            )
            .service(
                web::scope("/strategies")
                    .service(
                        web::resource("")
                            .route(web::get().to(strategies::list))
                            .route(web::post().to(strategies::create)),
                    )
                    // Before `/{id}`: "simulate" is not an id.
                    .service(
                        web::resource("/simulate").route(web::post().to(simulate::simulate_any)),
                    )
                    .service(
                        web::resource("/{id}/simulate")
                            .route(web::get().to(simulate::simulate_saved)),
                    )
                    .service(
                        web::resource("/{id}")
                            .route(web::get().to(strategies::get))
                            .route(web::put().to(strategies::update))
                            .route(web::delete().to(strategies::delete)),
                    )
                    .service(
                        web::resource("/{id}/activate").route(web::post().to(strategies::activate)),
                    )
                    .service(
                        web::resource("/{id}/deactivate")
                            .route(web::post().to(strategies::deactivate)),
                    )
                    .service(
                        web::resource("/{id}/rotate-secret")
                            .route(web::post().to(strategies::rotate_secret)),
                    ),
            )
            .service(
                web::scope("/webhook")
                    .service(
                        web::resource("/tradingview")
                            .route(web::post().to(webhook::tradingview_by_secret)),
                    )
                    .service(
                        web::resource("/tradingview/{token}")
                            .route(web::post().to(webhook::tradingview)),
                    ),
            )
            .service(
                web::resource("/market/{symbol}/candles").route(web::get().to(market::candles)),
            )
            .service(web::resource("/positions").route(web::get().to(trading::positions)))
            // Before `/positions/{id}`, which would take `history` for an id.
            .service(web::resource("/positions/history").route(web::get().to(positions::history)))
            .service(web::resource("/positions/{id}").route(web::get().to(trading::position)))
            .service(web::resource("/positions/{id}/close").route(web::post().to(positions::close)))
            .service(
                web::scope("/performance")
                    .service(web::resource("/summary").route(web::get().to(performance::summary)))
                    .service(web::resource("/daily").route(web::get().to(performance::daily)))
                    .service(web::resource("/weekly").route(web::get().to(performance::weekly)))
                    .service(web::resource("/monthly").route(web::get().to(performance::monthly))),
            )
            .service(web::resource("/orders").route(web::get().to(trading::orders)))
            .service(web::resource("/dashboard/summary").route(web::get().to(dashboard::summary)))
            .service(
                web::resource("/dashboard/equity").route(web::get().to(dashboard::equity_history)),
            )
            .service(
                web::resource("/dashboard/insights").route(web::get().to(notifications::insights)),
            )
            .service(web::resource("/notifications").route(web::get().to(notifications::list)))
            .service(
                web::resource("/notifications/unread-count")
                    .route(web::get().to(notifications::unread_count)),
            )
            .service(
                web::resource("/notifications/read-all")
                    .route(web::post().to(notifications::read_all)),
            )
            .service(
                web::resource("/notifications/{id}/read")
                    .route(web::post().to(notifications::mark_read)),
            )
            .service(
                web::resource("/backtest")
                    .route(web::post().to(backtest::start))
                    .route(web::get().to(backtest::list)),
            )
            .service(web::resource("/backtest/{id}").route(web::get().to(backtest::get)))
            .service(
                web::scope("/analysis/{symbol}")
                    .service(web::resource("/patterns").route(web::get().to(analysis::patterns)))
                    .service(
                        web::resource("/volume-profile")
                            .route(web::get().to(analysis::volume_profile)),
                    )
                    .service(web::resource("/fractal").route(web::get().to(analysis::fractal)))
                    .service(
                        web::resource("/recommendation")
                            .route(web::get().to(analysis::recommendation)),
                    ),
            )
            .service(web::resource("/ws").route(web::get().to(crate::ws::connect)))
            .service(
                web::resource("/pine-script/strategies").route(web::get().to(pine::strategies)),
            )
            .service(web::resource("/pine-script/customize").route(web::post().to(pine::customize)))
            .service(web::resource("/pine-script/generate").route(web::post().to(pine::generate)))
            .service(
                web::resource("/pine-script/analyze")
                    .app_data(web::Data::new(crate::extract::BodyLimit(
                        pine::ANALYZE_BODY_LIMIT,
                    )))
                    .route(web::post().to(pine::analyze)),
            )
            .service(
                web::scope("/telegram")
                    .service(
                        web::resource("")
                            .route(web::get().to(telegram::get))
                            .route(web::delete().to(telegram::delete)),
                    )
                    .service(web::resource("/register").route(web::post().to(telegram::register)))
                    .service(web::resource("/test").route(web::post().to(telegram::test))),
            )
            .service(web::resource("/signals").route(web::get().to(trading::signals)))
            .service(
                web::resource("/risk")
                    .route(web::get().to(risk::get))
                    .route(web::put().to(risk::update)),
            )
            .service(web::resource("/risk/kill-switch").route(web::post().to(risk::kill_switch)))
            .service(
                web::scope("/admin")
                    .service(
                        web::resource("/kill-switch")
                            .route(web::get().to(risk::global_get))
                            .route(web::post().to(risk::global_set)),
                    )
                    .service(
                        web::resource("/users/{id}/kill-switch")
                            .route(web::post().to(risk::user_set)),
                    )
                    .service(web::resource("/users").route(web::get().to(admin::list_users)))
                    .service(
                        web::resource("/users/{id}/deactivate")
                            .route(web::post().to(admin::deactivate_user)),
                    ),
            ),
    )
    .service(web::resource("/metrics").route(web::get().to(metrics::metrics)));
}

/// Answer for paths no route matches.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
