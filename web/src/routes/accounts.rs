//! `/api/v1/accounts`: the user's exchange accounts (the seed's `api_keys`).
//! Keys are tested against the exchange before they are saved, stored
//! encrypted, and never shown again except masked.

use super::auth::context;
use crate::auth::{AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tradingbot_actors::accounts::{AccountsError, Credentials};
use tradingbot_actors::exchange::ConnectionReport;
use tradingbot_actors::identity::audit;
use tradingbot_actors::store::entities::api_keys;
use tradingbot_actors::store::enums::Exchange;
use tradingbot_core::exchange::{ExchangeError, KeyPermissions};
use utoipa::ToSchema;
use zeroize::Zeroizing;

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::NotFound => ApiError::NotFound,
            AccountsError::Exchange(e) => connection_failed(&e),
            other => ApiError::internal(other),
        }
    }
}

/// The exchange refused or could not be reached: a 422 that says which.
fn connection_failed(e: &ExchangeError) -> ApiError {
    let mut detail = format!("The exchange connection test failed ({}): {e}", e.kind());
    if matches!(
        e,
        ExchangeError::InvalidCredentials { .. } | ExchangeError::PermissionDenied { .. }
    ) {
        detail.push_str(". Check the key, secret (and passphrase), and the key's IP whitelist.");
    }
    ApiError::Validation(vec![FieldError::new("api_key", detail)])
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterAccount {
    /// `binance`, `okx` or `paper`.
    #[schema(pattern = "^(binance|okx|paper)$")]
    pub exchange: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub label: Option<String>,
    pub api_key: Option<String>,
    #[serde(alias = "secret")]
    pub api_secret: Option<String>,
    /// OKX only.
    pub passphrase: Option<String>,
    /// Binance testnet / OKX demo trading.
    #[serde(default, alias = "demo")]
    pub testnet: bool,
}

fn exchange_of(s: &str) -> Option<Exchange> {
    match s.trim().to_ascii_lowercase().as_str() {
        "binance" => Some(Exchange::Binance),
        "okx" => Some(Exchange::Okx),
        "paper" => Some(Exchange::Paper),
        _ => None,
    }
}

fn check_secret(field: &str, value: &Option<String>, errors: &mut Vec<FieldError>) {
    match value.as_deref().map(str::trim) {
        None | Some("") => errors.push(FieldError::new(field, "is required")),
        Some(v) if v.len() > 256 || v.chars().any(char::is_whitespace) => errors.push(
            FieldError::new(field, "is not a key (no spaces, at most 256 characters)"),
        ),
        _ => {}
    }
}

fn check_label(label: &Option<String>, errors: &mut Vec<FieldError>) {
    if let Some(l) = label
        && (l.trim().is_empty() || l.chars().count() > 100)
    {
        errors.push(FieldError::new("label", "must be 1–100 characters"));
    }
}

impl Validate for RegisterAccount {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match exchange_of(&self.exchange) {
            None => errors.push(FieldError::new("exchange", "must be binance, okx or paper")),
            Some(Exchange::Paper) => {}
            Some(ex) => {
                check_secret("api_key", &self.api_key, &mut errors);
                check_secret("api_secret", &self.api_secret, &mut errors);
                if ex == Exchange::Okx {
                    check_secret("passphrase", &self.passphrase, &mut errors);
                }
            }
        }
        check_label(&self.label, &mut errors);
        errors
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateAccount {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub label: Option<String>,
    pub is_active: Option<bool>,
    /// New credentials (tested before they replace the old ones).
    pub api_key: Option<String>,
    #[serde(alias = "secret")]
    pub api_secret: Option<String>,
    pub passphrase: Option<String>,
}

impl Validate for UpdateAccount {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_label(&self.label, &mut errors);
        if self.api_key.is_some() || self.api_secret.is_some() {
            check_secret("api_key", &self.api_key, &mut errors);
            check_secret("api_secret", &self.api_secret, &mut errors);
        }
        errors
    }
}

#[derive(Serialize, ToSchema)]
pub struct BalanceView {
    pub asset: String,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub wallet: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub available: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub unrealized_pnl: Decimal,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct PermissionsView {
    pub can_trade: bool,
    pub can_withdraw: Option<bool>,
    pub ip_restricted: Option<bool>,
}

/// An exchange account as the API shows it: never a key or secret.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    /// `binance`, `okx` or `paper`.
    pub exchange: String,
    pub label: String,
    /// The exchange's own account id, when it tells.
    pub account_id: Option<String>,
    /// `vmPU…uEh8A`.
    pub api_key_masked: Option<String>,
    pub testnet: bool,
    pub is_active: bool,
    pub permissions: Option<PermissionsView>,
    /// Things to fix at the exchange (a key that can withdraw, no IP whitelist).
    pub warnings: Vec<String>,
    /// Balances read by the last connection test (register and test only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balances: Option<Vec<BalanceView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    pub last_tested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn warnings(exchange: Exchange, p: &KeyPermissions) -> Vec<String> {
    let mut w = Vec::new();
    if exchange == Exchange::Paper {
        return w;
    }
    if p.can_withdraw == Some(true) {
        w.push("withdrawal_enabled: this key can withdraw funds; a trading bot never needs that — disable withdrawals for it at the exchange".into());
    }
    if p.ip_restricted == Some(false) {
        w.push("not_ip_restricted: the key works from any address; restrict it to this server's IP at the exchange".into());
    }
    w
}

fn view(a: &api_keys::Model, report: Option<&ConnectionReport>) -> AccountView {
    let permissions: Option<KeyPermissions> = a
        .permissions
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let exchange = a.exchange;
    AccountView {
        id: a.id,
        exchange: exchange.as_str().into(),
        label: a.label.clone(),
        account_id: a.account_id.clone(),
        api_key_masked: a.api_key_mask.clone(),
        testnet: a.testnet,
        is_active: a.is_active,
        warnings: permissions
            .as_ref()
            .map(|p| warnings(exchange, p))
            .unwrap_or_default(),
        permissions: permissions.map(|p| PermissionsView {
            can_trade: p.can_trade,
            can_withdraw: p.can_withdraw,
            ip_restricted: p.ip_restricted,
        }),
        balances: report.map(|r| {
            r.balances
                .iter()
                .map(|b| BalanceView {
                    asset: b.asset.clone(),
                    wallet: b.wallet,
                    available: b.available,
                    unrealized_pnl: b.unrealized_pnl,
                })
                .collect()
        }),
        latency_ms: report.map(|r| r.latency.as_secs_f64() * 1e3),
        last_tested_at: a.last_tested_at,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn credentials(
    key: &Option<String>,
    secret: &Option<String>,
    passphrase: &Option<String>,
) -> Option<Credentials> {
    Some(Credentials {
        api_key: Zeroizing::new(key.as_deref()?.trim().to_owned()),
        secret: Zeroizing::new(secret.as_deref()?.trim().to_owned()),
        passphrase: passphrase.as_deref().map(|p| Zeroizing::new(p.to_owned())),
    })
}

/// Tests `creds` against the exchange; refuses keys that cannot trade.
async fn test_credentials(
    state: &AppState,
    exchange: Exchange,
    testnet: bool,
    creds: &Credentials,
) -> Result<ConnectionReport, ApiError> {
    let connection = state.accounts.connect_with(exchange, testnet, creds);
    let report = connection.test().await.map_err(|e| connection_failed(&e))?;
    if !report.permissions.can_trade {
        return Err(ApiError::invalid(
            "api_key",
            "the key has no trading permission; enable futures trading for it at the exchange",
        ));
    }
    Ok(report)
}

/// Register an exchange account
///
/// Tests the key (balance and permissions) before saving it; a key that
/// fails or cannot trade is refused. Live keys need a verified email.
#[utoipa::path(post, path = "/api/v1/accounts/register", tag = "accounts",
    security(("bearer" = [])), request_body = RegisterAccount,
    responses(
        (status = 201, body = AccountView),
        (status = 403, description = "`email_not_verified`"),
        (status = 422, description = "`validation_failed`: a bad field, or the connection test failed"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<RegisterAccount>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let exchange = exchange_of(&body.exchange)
        .ok_or_else(|| ApiError::invalid("exchange", "must be binance, okx or paper"))?;
    let testnet = body.testnet && exchange != Exchange::Paper;
    if exchange != Exchange::Paper && !testnet {
        let account = state.identity.user(user.id).await?;
        if account.email_verified_at.is_none() {
            return Err(ApiError::forbidden(
                "email_not_verified",
                "Verify your email address before adding live exchange keys (testnet, demo and paper accounts work meanwhile).",
            ));
        }
    }
    let label = body
        .label
        .clone()
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| {
            format!(
                "{} {}",
                body.exchange.trim().to_ascii_lowercase(),
                if testnet {
                    "test"
                } else if exchange == Exchange::Paper {
                    "account"
                } else {
                    "live"
                }
            )
        });
    let (row, report) = if exchange == Exchange::Paper {
        let row = state
            .accounts
            .create(user.id, exchange, &label, false, None, None)
            .await?;
        let report = state
            .accounts
            .connection(&row)
            .await?
            .test()
            .await
            .map_err(|e| connection_failed(&e))?;
        let row = state.accounts.record_test(row, &report).await?;
        (row, report)
    } else {
        let creds = credentials(&body.api_key, &body.api_secret, &body.passphrase)
            .ok_or_else(|| ApiError::invalid("api_key", "is required"))?;
        let report = test_credentials(&state, exchange, testnet, &creds).await?;
        let row = state
            .accounts
            .create(
                user.id,
                exchange,
                &label,
                testnet,
                Some(&creds),
                Some(&report.permissions),
            )
            .await?;
        (row, report)
    };
    // The dashboard shows the new account at once, not after the next round.
    state.balance_refresh.record(&row, report.balances.clone());
    audit::record(
        &state.store,
        Some(user.id),
        "exchange_account_added",
        &context(&req, ip),
        json!({ "account": row.id, "exchange": body.exchange.trim().to_ascii_lowercase(), "testnet": testnet }),
    )
    .await;
    Ok(HttpResponse::Created().json(view(&row, Some(&report))))
}

/// List exchange accounts
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    security(("bearer" = [])), responses((status = 200, body = [AccountView])))]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let rows = state.accounts.list(user.id).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(|a| view(a, None)).collect::<Vec<_>>()))
}

/// Read an exchange account
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AccountView), (status = 404)))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = state.accounts.get(user.id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&row, None)))
}

/// Update an exchange account
///
/// Renames, (de)activates, or replaces the credentials — new credentials are
/// tested first and only replace the old ones if the test passes.
#[utoipa::path(put, path = "/api/v1/accounts/{id}", tag = "accounts",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = UpdateAccount,
    responses((status = 200, body = AccountView), (status = 404), (status = 422)))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<UpdateAccount>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut row = state.accounts.get(user.id, id.into_inner()).await?;
    let mut report = None;
    let rotating = body.api_key.is_some();
    if rotating {
        if row.exchange == Exchange::Paper {
            return Err(ApiError::invalid("api_key", "paper accounts have no keys"));
        }
        let passphrase = body.passphrase.clone().or_else(|| {
            state
                .accounts
                .credentials(&row)
                .ok()
                .and_then(|c| c.passphrase.map(|p| p.to_string()))
        });
        if row.exchange == Exchange::Okx && passphrase.is_none() {
            return Err(ApiError::invalid("passphrase", "is required"));
        }
        let creds = credentials(&body.api_key, &body.api_secret, &passphrase)
            .ok_or_else(|| ApiError::invalid("api_secret", "is required"))?;
        let r = test_credentials(&state, row.exchange, row.testnet, &creds).await?;
        row = state
            .accounts
            .replace_credentials(&row, &creds, &r.permissions)
            .await?;
        report = Some(r);
    }
    if body.label.is_some() || body.is_active.is_some() {
        row = state
            .accounts
            .update_meta(row, body.label.map(|l| l.trim().to_owned()), body.is_active)
            .await?;
    }
    audit::record(
        &state.store,
        Some(user.id),
        "exchange_account_updated",
        &context(&req, ip),
        json!({ "account": row.id, "credentials_replaced": rotating }),
    )
    .await;
    if rotating {
        // The trading session switches to the new credentials.
        state
            .execution
            .account_changed(user.id, row.id, false)
            .await;
    }
    Ok(HttpResponse::Ok().json(view(&row, report.as_ref())))
}

/// Delete an exchange account
///
/// Strategies trading on it are left without an account (and stop trading).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}", tag = "accounts",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404)))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = state.accounts.get(user.id, id.into_inner()).await?;
    let account = row.id;
    state.accounts.delete(row).await?;
    state
        .execution
        .account_changed(user.id, account, true)
        .await;
    audit::record(
        &state.store,
        Some(user.id),
        "exchange_account_removed",
        &context(&req, ip),
        json!({ "account": account }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Test an exchange account's connection
#[utoipa::path(post, path = "/api/v1/accounts/{id}/test", tag = "accounts",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = AccountView), (status = 404), (status = 422)))]
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = state.accounts.get(user.id, id.into_inner()).await?;
    let connection = state.accounts.connection(&row).await?;
    let result = connection.test().await;
    audit::record(
        &state.store,
        Some(user.id),
        "exchange_account_tested",
        &context(&req, ip),
        json!({ "account": row.id, "ok": result.is_ok(), "error": result.as_ref().err().map(|e| e.kind()) }),
    )
    .await;
    let report = result.map_err(|e| connection_failed(&e))?;
    let row = state.accounts.record_test(row, &report).await?;
    Ok(HttpResponse::Ok().json(view(&row, Some(&report))))
}
