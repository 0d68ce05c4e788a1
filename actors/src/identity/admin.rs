//! The operator's view of users: list, deactivate, count admins.

use super::{Identity, IdentityError, RequestContext, audit};
use crate::store::entities::users;
use crate::store::enums::Role;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

impl Identity {
    /// Admin: users, newest first, one page.
    pub async fn list_users(
        &self,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<users::Model>, u64), IdentityError> {
        let paginator = users::Entity::find()
            .order_by_desc(users::Column::Id)
            .paginate(self.store.conn(), per_page);
        let total = paginator.num_items().await?;
        let items = paginator.fetch_page(page).await?;
        Ok((items, total))
    }

    /// Admin: stops an account at once — no login, no valid token.
    pub async fn deactivate(
        &self,
        admin_id: i64,
        user_id: i64,
        ctx: &RequestContext,
    ) -> Result<users::Model, IdentityError> {
        let user = self.user(user_id).await?;
        let mut active = user.into_active_model();
        active.is_active = Set(false);
        active.updated_at = Set(Utc::now());
        let user = active.update(self.store.conn()).await?;
        self.revoke_all_sessions(user.id).await?;
        self.revoke_access_tokens(user.id).await?;
        audit::record(
            &self.store,
            Some(user.id),
            "account_deactivated",
            ctx,
            json!({ "by": admin_id }),
        )
        .await;
        Ok(user)
    }

    /// How many users there are (the CLI refuses a second first admin).
    pub async fn count_admins(&self) -> Result<u64, IdentityError> {
        Ok(users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin))
            .select_only()
            .column(users::Column::Id)
            .count(self.store.conn())
            .await?)
    }
}
