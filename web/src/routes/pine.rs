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
