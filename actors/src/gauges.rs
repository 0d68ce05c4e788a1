//! Gauges read from the database for the dashboards and alerts: open
//! positions, active strategies, engaged kill switches, today's realized
//! PnL, and the connection pool. Read on a timer, off the hot path.

use crate::store::entities::{positions, risk_settings, strategies};
use crate::store::enums::PositionStatus;
use crate::store::{Backend, Store};
use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::prelude::ToPrimitive;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub positions_open: u64,
    pub strategies_active: u64,
    /// Users who engaged their own kill switch.
    pub user_kill_switches: u64,
    /// Users an administrator stopped.
    pub admin_kill_switches: u64,
    /// Realized PnL of positions closed since 00:00 UTC, USDT.
    pub realized_pnl_today: f64,
    /// (connections open, of which idle).
    pub pool: (u32, u32),
}

pub async fn snapshot(store: &Store) -> Result<Snapshot, DbErr> {
    let conn = store.conn();
    let positions_open = positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Open))
        .count(conn)
        .await?;
    let strategies_active = strategies::Entity::find()
        .filter(strategies::Column::IsActive.eq(true))
        .count(conn)
        .await?;
    let user_kill_switches = risk_settings::Entity::find()
        .filter(risk_settings::Column::KillSwitch.eq(true))
        .count(conn)
        .await?;
    let admin_kill_switches = risk_settings::Entity::find()
        .filter(risk_settings::Column::AdminKillSwitch.eq(true))
        .count(conn)
        .await?;
    let now = Utc::now();
    let midnight = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    let closed = positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Closed))
        .filter(positions::Column::ClosedAt.gte(midnight))
        .all(conn)
        .await?;
    let realized_pnl_today = closed
        .iter()
        .map(|p| p.realized_pnl.get())
        .sum::<rust_decimal::Decimal>()
        .to_f64()
        .unwrap_or(0.0);
    let pool = match store.backend() {
        Backend::Sqlite => {
            let p = conn.get_sqlite_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
        Backend::Postgres => {
            let p = conn.get_postgres_connection_pool();
            (p.size(), p.num_idle() as u32)
        }
    };
    Ok(Snapshot {
        positions_open,
        strategies_active,
        user_kill_switches,
        admin_kill_switches,
        realized_pnl_today,
        pool,
    })
}
