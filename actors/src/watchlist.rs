//! What the AI watch looks at: every open position, with its owner's alert
//! threshold and whether its strategy allows the watch to close it.

use crate::store::Store;
use crate::store::entities::{positions, strategies, users};
use crate::store::enums::PositionStatus;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Watched {
    pub position: positions::Model,
    /// The user's `ai_alert_confidence`.
    pub threshold: f64,
    /// The strategy's `ai_auto_exit`.
    pub auto_exit: bool,
}

pub async fn open_positions(store: &Store) -> Result<Vec<Watched>, DbErr> {
    let conn = store.conn();
    let open = positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Open))
        .all(conn)
        .await?;
    let mut thresholds: HashMap<i64, f64> = HashMap::new();
    let mut auto: HashMap<i64, bool> = HashMap::new();
    let mut out = Vec::with_capacity(open.len());
    for p in open {
        let threshold = match thresholds.get(&p.user_id) {
            Some(t) => *t,
            None => {
                let t = users::Entity::find_by_id(p.user_id)
                    .one(conn)
                    .await?
                    .map_or(0.7, |u| u.ai_alert_confidence);
                thresholds.insert(p.user_id, t);
                t
            }
        };
        let auto_exit = match p.strategy_id {
            None => false,
            Some(sid) => match auto.get(&sid) {
                Some(a) => *a,
                None => {
                    let a = strategies::Entity::find_by_id(sid)
                        .one(conn)
                        .await?
                        .is_some_and(|s| s.ai_auto_exit);
                    auto.insert(sid, a);
                    a
                }
            },
        };
        out.push(Watched {
            position: p,
            threshold,
            auto_exit,
        });
    }
    Ok(out)
}
