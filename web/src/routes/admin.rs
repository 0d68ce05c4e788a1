//! `/api/v1/admin/*`: what an administrator can do to accounts.

use super::auth::context;
use super::views::{Page, UserView};
use crate::auth::{AdminUser, ClientIp};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<u64>,
    /// Items per page (1–200, default 50).
    pub per_page: Option<u64>,
}

impl PageQuery {
    pub fn resolve(&self) -> Result<(u64, u64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::invalid("page", "pages start at 1"));
        }
        if !(1..=200).contains(&per_page) {
            return Err(ApiError::invalid("per_page", "must be between 1 and 200"));
        }
        Ok((page, per_page))
    }
}

/// List users (admin)
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, description = "`admin_only`")))]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = query.resolve()?;
    let (items, total) = state.identity.list_users(page - 1, per_page).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(UserView::from).collect(),
        total,
        page: Some(page),
        per_page,
        next_cursor: None,
    }))
}

/// Deactivate a user (admin)
///
/// The account can no longer sign in, and every token it holds stops working.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 403), (status = 404)))]
pub async fn deactivate_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id == admin.0.id {
        return Err(ApiError::conflict(
            "cannot_deactivate_self",
            "An administrator cannot deactivate their own account.",
        ));
    }
    let user = state
        .identity
        .deactivate(admin.0.id, id, &context(&req, ip))
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
