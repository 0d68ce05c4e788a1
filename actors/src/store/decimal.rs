//! An exact decimal column that round-trips on SQLite as well as PostgreSQL.
//!
//! sea-orm reads a SQLite decimal through `f64`, which would turn a stored
//! `0.1` into `0.1000000000000000055…` on the way back. The migrations store
//! decimals as `TEXT` on SQLite; this type reads that text and parses it, and
//! on PostgreSQL reads `NUMERIC` natively. Writing needs nothing special: the
//! driver binds a `Decimal` as its exact string on SQLite.

use rust_decimal::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

/// A `rust_decimal::Decimal` stored exactly on every backend.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DbDecimal(pub Decimal);

impl DbDecimal {
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl Deref for DbDecimal {
    type Target = Decimal;

    fn deref(&self) -> &Decimal {
        &self.0
    }
}

impl From<Decimal> for DbDecimal {
    fn from(d: Decimal) -> Self {
        Self(d)
    }
}

impl From<DbDecimal> for Decimal {
    fn from(d: DbDecimal) -> Self {
        d.0
    }
}

impl fmt::Display for DbDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<DbDecimal> for Value {
    fn from(d: DbDecimal) -> Self {
        Value::Decimal(Some(d.0))
    }
}

impl TryGetable for DbDecimal {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        // SQLite: the column holds text. PostgreSQL refuses to decode NUMERIC
        // as a string, and then the native decimal path is the right one.
        match <String as TryGetable>::try_get_by(res, idx) {
            Ok(text) => Decimal::from_str(text.trim())
                .or_else(|_| Decimal::from_scientific(text.trim()))
                .map(DbDecimal)
                .map_err(|e| {
                    TryGetError::DbErr(DbErr::TryIntoErr {
                        from: "String",
                        into: "Decimal",
                        source: Arc::new(e),
                    })
                }),
            Err(TryGetError::Null(col)) => Err(TryGetError::Null(col)),
            Err(_) => <Decimal as TryGetable>::try_get_by(res, idx).map(DbDecimal),
        }
    }
}

impl ValueType for DbDecimal {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        <Decimal as ValueType>::try_from(v).map(DbDecimal)
    }

    fn type_name() -> String {
        "DbDecimal".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(None)
    }
}

impl Nullable for DbDecimal {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl sea_orm::IntoActiveValue<DbDecimal> for DbDecimal {
    fn into_active_value(self) -> sea_orm::ActiveValue<DbDecimal> {
        sea_orm::ActiveValue::Set(self)
    }
}

impl sea_orm::sea_query::postgres_array::NotU8 for DbDecimal {}
