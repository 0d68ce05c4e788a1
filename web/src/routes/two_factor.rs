//! `/api/v1/auth/2fa/*`: turning two-factor authentication on (a TOTP
//! secret shown once, confirmed by a code, answered with recovery codes)
//! and off (password and code).

use super::auth::{context, required};
use crate::auth::{AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    pub code: String,
}

impl Validate for CodeRequest {
    fn validate(&self) -> Vec<FieldError> {
        required(&[("code", &self.code)])
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Disable2faRequest {
    pub password: String,
    pub code: String,
}

impl Validate for Disable2faRequest {
    fn validate(&self) -> Vec<FieldError> {
        required(&[("password", &self.password), ("code", &self.code)])
    }
}

#[derive(Serialize, ToSchema)]
pub struct TwoFactorSetup {
    /// Base32 secret, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/…` for scanning.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG document).
    pub qr_svg: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each works once in place of a code.
    pub recovery_codes: Vec<String>,
}

fn qr_svg(data: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .build())
}

/// Start two-factor setup
///
/// Generates a new TOTP secret (stored encrypted) and returns it with its
/// `otpauth://` URI and a QR code. Confirm with `POST /auth/2fa/enable`.
#[utoipa::path(get, path = "/api/v1/auth/2fa/setup", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = TwoFactorSetup), (status = 409, description = "`2fa_already_enabled`")))]
pub async fn setup_2fa(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let setup = state
        .identity
        .setup_two_factor(user.id, &context(&req, ip))
        .await?;
    let qr_svg = qr_svg(&setup.otpauth_uri)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TwoFactorSetup {
            secret: setup.secret_base32,
            otpauth_uri: setup.otpauth_uri,
            qr_svg,
        }))
}

/// Enable two-factor authentication
#[utoipa::path(post, path = "/api/v1/auth/2fa/enable", tag = "auth",
    security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes), (status = 401, description = "`invalid_2fa_code`")))]
pub async fn enable_2fa(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let codes = state
        .identity
        .enable_two_factor(user.id, &body.0.code, &context(&req, ip))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RecoveryCodes {
            recovery_codes: codes,
        }))
}

/// Disable two-factor authentication
#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "auth",
    security(("bearer" = [])), request_body = Disable2faRequest,
    responses((status = 204), (status = 401)))]
pub async fn disable_2fa(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<Disable2faRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .identity
        .disable_two_factor(user.id, &body.0.password, &body.0.code, &context(&req, ip))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
