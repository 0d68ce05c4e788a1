//! `GET /metrics`: Prometheus text exposition of every metric the process
//! records. Expose it to the scraper only (nginx keeps it off the internet).

use crate::state::AppState;
use actix_web::{HttpResponse, web};

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(state.metrics.render())
}
