//! Risk limits and kill switches: `/api/v1/risk` for a user's own, and
//! `/api/v1/admin/kill-switch` for the operator's.

use super::auth::context;
use crate::auth::{AdminUser, AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tradingbot_actors::identity::audit;
use tradingbot_core::risk::RiskLimits;
use utoipa::ToSchema;

/// A user's limits and where the day stands.
#[derive(Serialize, ToSchema)]
pub struct RiskView {
    pub max_leverage: u32,
    pub max_open_positions: u32,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub max_position_notional: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub daily_loss_limit_pct: Option<Decimal>,
    /// The user's own kill switch.
    pub kill_switch: bool,
    /// Set by an administrator.
    pub admin_kill_switch: bool,
    /// The operator halted new entries for everyone.
    pub global_kill_switch: bool,
    /// Positions open or being opened.
    pub open_positions: u32,
    /// Equity at the start of the UTC day, as first seen that day.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub day_start_equity: Decimal,
    /// The daily loss limit tripped today: entries resume at 00:00 UTC.
    pub halted_today: bool,
}

async fn current(state: &AppState, user_id: i64) -> Result<RiskView, ApiError> {
    let r = state
        .execution
        .risk(user_id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::Unavailable("risk state is loading; retry".into()))?;
    let today = Utc::now().timestamp_millis().div_euclid(86_400_000);
    Ok(RiskView {
        max_leverage: r.limits.max_leverage,
        max_open_positions: r.limits.max_open_positions,
        max_position_notional: r.limits.max_position_notional,
        daily_loss_limit_pct: r.limits.daily_loss_limit_pct,
        kill_switch: r.ledger.kill_switch,
        admin_kill_switch: r.ledger.admin_kill_switch,
        global_kill_switch: state.execution.global_kill_switch(),
        open_positions: r.ledger.open_positions,
        day_start_equity: r.ledger.start_equity,
        halted_today: r.ledger.halted_day == Some(today),
    })
}

/// Your risk limits and state
#[utoipa::path(get, path = "/api/v1/risk", tag = "risk",
    security(("bearer" = [])), responses((status = 200, body = RiskView)))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    if let Some(answer) = crate::cluster::to_owner(&state, &req, user.id, Vec::new()).await {
        return answer;
    }
    Ok(HttpResponse::Ok().json(current(&state, user.id).await?))
}

/// New limits; absent fields keep their value, `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    /// 1–125.
    #[schema(minimum = 1, maximum = 125)]
    pub max_leverage: Option<u32>,
    /// 0–1000.
    #[schema(minimum = 0, maximum = 1000)]
    pub max_open_positions: Option<u32>,
    /// Quote asset, above 0 (to 8 decimals); `null`: no cap.
    #[serde(default, deserialize_with = "some_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0.00000001)]
    pub max_position_notional: Option<Option<Decimal>>,
    /// Percent, 0.01–100; `null`: no limit.
    #[serde(default, deserialize_with = "some_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0.01, maximum = 100)]
    pub daily_loss_limit_pct: Option<Option<Decimal>>,
}

fn some_decimal<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    tradingbot_core::lenient::opt_decimal(d).map(Some)
}

impl Validate for LimitsBody {
    fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if self.max_leverage.is_some_and(|l| !(1..=125).contains(&l)) {
            e.push(FieldError::new("max_leverage", "must be between 1 and 125"));
        }
        if self.max_open_positions.is_some_and(|n| n > 1000) {
            e.push(FieldError::new(
                "max_open_positions",
                "must be between 0 and 1000",
            ));
        }
        // The floors are what the document states: below them a number
        // sent as JSON may not survive the conversion to a decimal.
        if let Some(Some(n)) = self.max_position_notional
            && n < Decimal::new(1, 8)
        {
            e.push(FieldError::new(
                "max_position_notional",
                "must be at least 0.00000001 (or null for none)",
            ));
        }
        if let Some(Some(p)) = self.daily_loss_limit_pct
            && (p < Decimal::new(1, 2) || p > Decimal::ONE_HUNDRED)
        {
            e.push(FieldError::new(
                "daily_loss_limit_pct",
                "must be between 0.01 and 100 (or null for none)",
            ));
        }
        e
    }
}

/// Change your risk limits
#[utoipa::path(put, path = "/api/v1/risk", tag = "risk",
    security(("bearer" = [])), request_body = LimitsBody,
    responses((status = 200, body = RiskView), (status = 422)))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<LimitsBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let old = state
        .execution
        .risk(user.id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map(|r| r.limits)
        .unwrap_or_default();
    let limits = RiskLimits {
        max_leverage: b.max_leverage.unwrap_or(old.max_leverage),
        max_open_positions: b.max_open_positions.unwrap_or(old.max_open_positions),
        max_position_notional: b.max_position_notional.unwrap_or(old.max_position_notional),
        daily_loss_limit_pct: b.daily_loss_limit_pct.unwrap_or(old.daily_loss_limit_pct),
    };
    state
        .execution
        .set_limits(user.id, limits.clone())
        .await
        .map_err(ApiError::internal)?;
    audit::record(
        &state.store,
        Some(user.id),
        "risk_limits_changed",
        &context(&req, ip),
        serde_json::to_value(&limits).unwrap_or_default(),
    )
    .await;
    Ok(HttpResponse::Ok().json(current(&state, user.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchBody {
    pub enabled: bool,
}

impl Validate for SwitchBody {
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// Your kill switch
///
/// On: every new entry is refused (closing and protective orders still work).
#[utoipa::path(post, path = "/api/v1/risk/kill-switch", tag = "risk",
    security(("bearer" = [])), request_body = SwitchBody,
    responses((status = 200, body = RiskView)))]
pub async fn kill_switch(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<SwitchBody>,
) -> Result<HttpResponse, ApiError> {
    let on = body.into_inner().enabled;
    let raw = serde_json::to_vec(&json!({ "enabled": on })).unwrap_or_default();
    if let Some(answer) = crate::cluster::to_owner(&state, &req, user.id, raw).await {
        return answer;
    }
    state
        .execution
        .set_kill_switch(user.id, Some(on), None)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    audit::record(
        &state.store,
        Some(user.id),
        "kill_switch",
        &context(&req, ip),
        json!({ "enabled": on }),
    )
    .await;
    Ok(HttpResponse::Ok().json(current(&state, user.id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct GlobalSwitchView {
    pub enabled: bool,
}

/// The global kill switch (admin)
#[utoipa::path(get, path = "/api/v1/admin/kill-switch", tag = "admin",
    security(("bearer" = [])), responses((status = 200, body = GlobalSwitchView), (status = 403)))]
pub async fn global_get(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(GlobalSwitchView {
        enabled: state.execution.global_kill_switch(),
    }))
}

/// Halt or resume new entries for everyone (admin)
#[utoipa::path(post, path = "/api/v1/admin/kill-switch", tag = "admin",
    security(("bearer" = [])), request_body = SwitchBody,
    responses((status = 200, body = GlobalSwitchView), (status = 403)))]
pub async fn global_set(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    admin: AdminUser,
    body: Json<SwitchBody>,
) -> Result<HttpResponse, ApiError> {
    let on = body.into_inner().enabled;
    state
        .execution
        .set_global_kill_switch(on)
        .await
        .map_err(ApiError::internal)?;
    audit::record(
        &state.store,
        Some(admin.0.id),
        "global_kill_switch",
        &context(&req, ip),
        json!({ "enabled": on }),
    )
    .await;
    Ok(HttpResponse::Ok().json(GlobalSwitchView { enabled: on }))
}

/// Halt or resume one user's new entries (admin)
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/kill-switch", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = SwitchBody,
    responses((status = 200, body = RiskView), (status = 403), (status = 404)))]
pub async fn user_set(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    admin: AdminUser,
    id: web::Path<i64>,
    body: Json<SwitchBody>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    state.identity.user(user_id).await?;
    let on = body.into_inner().enabled;
    let raw = serde_json::to_vec(&json!({ "enabled": on })).unwrap_or_default();
    if let Some(answer) = crate::cluster::to_owner(&state, &req, user_id, raw).await {
        return answer;
    }
    state
        .execution
        .set_kill_switch(user_id, None, Some(on))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    audit::record(
        &state.store,
        Some(admin.0.id),
        "user_kill_switch",
        &context(&req, ip),
        json!({ "user": user_id, "enabled": on }),
    )
    .await;
    Ok(HttpResponse::Ok().json(current(&state, user_id).await?))
}
