//! HTTP routes, one module per area of the API. Handlers parse, call the
//! domain or the actors, and shape the answer; they hold no business rules.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod docs;
pub mod health;
mod identity_errors;
pub mod metrics;
pub mod users;
pub mod views;

use crate::problem::ApiError;
use actix_web::web;

/// Mounts every route. Each path is one `Resource`, so a wrong method gets
/// 405 with `Allow` rather than 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource("/health").route(web::get().to(health::health)))
            .service(web::resource("/openapi.json").route(web::get().to(docs::openapi_json)))
            .service(web::resource("/docs").route(web::get().to(docs::docs_page)))
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
                            .route(web::get().to(auth::setup_2fa))
                            .route(web::post().to(auth::setup_2fa)),
                    )
                    .service(web::resource("/2fa/enable").route(web::post().to(auth::enable_2fa)))
                    .service(
                        web::resource("/2fa/disable").route(web::post().to(auth::disable_2fa)),
                    ),
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
                    .service(web::resource("/{id}/test").route(web::post().to(accounts::test))),
            )
            .service(
                web::scope("/admin")
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
