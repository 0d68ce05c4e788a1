//! Trading: strategies and their webhook tokens, received signals, positions,
//! orders and daily performance snapshots.

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use crate::m20261124_000002_accounts::ApiKeys;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000003_trading"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    Id,
    UserId,
    AccountId,
    Name,
    IndicatorId,
    Symbols,
    InvestmentPct,
    LongTpPct,
    LongSlPct,
    ShortTpPct,
    ShortSlPct,
    Leverage,
    MarginMode,
    OppositeSignal,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookTokens {
    Table,
    Id,
    UserId,
    StrategyId,
    TokenHash,
    TokenEnc,
    SecretEnc,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Signals {
    Table,
    Id,
    UserId,
    StrategyId,
    SignalKey,
    Action,
    Symbol,
    Price,
    Outcome,
    Reason,
    LatencyUs,
    SourceIp,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Positions {
    Table,
    Id,
    UserId,
    StrategyId,
    AccountId,
    Exchange,
    Symbol,
    Side,
    EntryPrice,
    Quantity,
    Leverage,
    MarginMode,
    StopLoss,
    TakeProfit,
    LiquidationPrice,
    UnrealizedPnl,
    RealizedPnl,
    Fees,
    ExitPrice,
    CloseReason,
    Status,
    OpenedAt,
    ClosedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    PositionId,
    StrategyId,
    SignalId,
    AccountId,
    Exchange,
    OrderId,
    ClientOrderId,
    Leg,
    Symbol,
    Side,
    Type,
    Price,
    TriggerPrice,
    Quantity,
    FilledQty,
    AvgFillPrice,
    Fee,
    FeeAsset,
    ReduceOnly,
    Status,
    ErrorCode,
    ErrorMessage,
    CreatedAt,
    UpdatedAt,
    FilledAt,
}

#[derive(DeriveIden)]
enum Performances {
    Table,
    Id,
    UserId,
    Date,
    TotalPnl,
    WinRate,
    TotalTrades,
    Roi,
    SharpeRatio,
    CreatedAt,
}

fn fk_to<T, C, RT, RC>(
    table: T,
    column: C,
    ref_table: RT,
    ref_column: RC,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
    RT: IntoIden + 'static,
    RC: IntoIden + 'static,
{
    ForeignKey::create()
        .from(table, column)
        .to(ref_table, ref_column)
        .on_delete(on_delete)
        .to_owned()
}

async fn index<T, I>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: I,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    I: IntoIterator,
    I::Item: IntoIden + 'static,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    manager.create_index(stmt.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();

        // The seed's strategies table, with its defaults and the frontend's
        // ranges enforced by the database as a last line of defence.
        manager
            .create_table(
                Table::create()
                    .table(Strategies::Table)
                    .col(id(Strategies::Id))
                    .col(fk(Strategies::UserId))
                    .col(fk_null(Strategies::AccountId))
                    .col(string(Strategies::Name, 255))
                    .col(string(Strategies::IndicatorId, 50))
                    // JSON array of symbols, e.g. `["BTCUSDT"]`.
                    .col(
                        ColumnDef::new(Strategies::Symbols)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(pct(db, Strategies::InvestmentPct, "10.00"))
                    .col(pct(db, Strategies::LongTpPct, "5.00"))
                    .col(pct(db, Strategies::LongSlPct, "2.00"))
                    .col(pct(db, Strategies::ShortTpPct, "5.00"))
                    .col(pct(db, Strategies::ShortSlPct, "2.00"))
                    .col(
                        ColumnDef::new(Strategies::Leverage)
                            .integer()
                            .not_null()
                            .default(3),
                    )
                    .col(string_default(Strategies::MarginMode, 16, "isolated"))
                    .col(string_default(Strategies::OppositeSignal, 16, "reverse"))
                    .col(boolean(Strategies::IsActive, true))
                    .col(created_at(Strategies::CreatedAt))
                    .col(created_at(Strategies::UpdatedAt))
                    .check((
                        "ck_strategies_investment_pct",
                        decimal_between(db, "investment_pct", "1", "100"),
                    ))
                    .check((
                        "ck_strategies_long_tp_pct",
                        decimal_between(db, "long_tp_pct", "0.1", "100"),
                    ))
                    .check((
                        "ck_strategies_long_sl_pct",
                        decimal_between(db, "long_sl_pct", "0.1", "100"),
                    ))
                    .check((
                        "ck_strategies_short_tp_pct",
                        decimal_between(db, "short_tp_pct", "0.1", "100"),
                    ))
                    .check((
                        "ck_strategies_short_sl_pct",
                        decimal_between(db, "short_sl_pct", "0.1", "100"),
                    ))
                    .check((
                        "ck_strategies_leverage",
                        Expr::col(Strategies::Leverage).between(1, 125),
                    ))
                    .check((
                        "ck_strategies_margin_mode",
                        Expr::col(Strategies::MarginMode).is_in(["isolated", "cross"]),
                    ))
                    .check((
                        "ck_strategies_opposite_signal",
                        Expr::col(Strategies::OppositeSignal).is_in(["reverse", "close"]),
                    ))
                    .foreign_key(&mut fk_to(
                        Strategies::Table,
                        Strategies::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    // Deleting an exchange account leaves its strategies
                    // unattached (and unable to trade) rather than gone.
                    .foreign_key(&mut fk_to(
                        Strategies::Table,
                        Strategies::AccountId,
                        ApiKeys::Table,
                        ApiKeys::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_strategies_user_id",
            Strategies::Table,
            [Strategies::UserId],
        )
        .await?;
        index(
            manager,
            "idx_strategies_is_active",
            Strategies::Table,
            [Strategies::IsActive],
        )
        .await?;
        index(
            manager,
            "idx_strategies_account_id",
            Strategies::Table,
            [Strategies::AccountId],
        )
        .await?;

        // The path token is stored hashed (it is a bearer credential) and
        // encrypted (so the user can be shown their URL again).
        manager
            .create_table(
                Table::create()
                    .table(WebhookTokens::Table)
                    .col(id(WebhookTokens::Id))
                    .col(fk(WebhookTokens::UserId))
                    .col(fk(WebhookTokens::StrategyId))
                    .col(string(WebhookTokens::TokenHash, 64).unique_key())
                    .col(ciphertext(WebhookTokens::TokenEnc))
                    .col(ciphertext(WebhookTokens::SecretEnc))
                    .col(created_at(WebhookTokens::CreatedAt))
                    .col(timestamp_null(WebhookTokens::RevokedAt))
                    .foreign_key(&mut fk_to(
                        WebhookTokens::Table,
                        WebhookTokens::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk_to(
                        WebhookTokens::Table,
                        WebhookTokens::StrategyId,
                        Strategies::Table,
                        Strategies::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_webhook_tokens_strategy_id",
            WebhookTokens::Table,
            [WebhookTokens::StrategyId],
        )
        .await?;

        // Signals that reached no user (unknown token) keep a NULL user.
        manager
            .create_table(
                Table::create()
                    .table(Signals::Table)
                    .col(id(Signals::Id))
                    .col(fk_null(Signals::UserId))
                    .col(fk_null(Signals::StrategyId))
                    .col(string(Signals::SignalKey, 128))
                    .col(string_null(Signals::Action, 16))
                    .col(string_null(Signals::Symbol, 32))
                    .col(money_null(db, Signals::Price))
                    .col(string(Signals::Outcome, 16).check((
                        "ck_signals_outcome",
                        Expr::col(Signals::Outcome).is_in(["accepted", "rejected", "duplicate"]),
                    )))
                    .col(string_null(Signals::Reason, 255))
                    .col(ColumnDef::new(Signals::LatencyUs).big_integer().not_null())
                    .col(string_null(Signals::SourceIp, 64))
                    .col(created_at(Signals::ReceivedAt))
                    .foreign_key(&mut fk_to(
                        Signals::Table,
                        Signals::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk_to(
                        Signals::Table,
                        Signals::StrategyId,
                        Strategies::Table,
                        Strategies::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_signals_user_id_received_at",
            Signals::Table,
            [Signals::UserId, Signals::ReceivedAt],
        )
        .await?;
        index(
            manager,
            "idx_signals_strategy_id",
            Signals::Table,
            [Signals::StrategyId],
        )
        .await?;

        // The seed's positions table plus what closing and reconciliation need.
        manager
            .create_table(
                Table::create()
                    .table(Positions::Table)
                    .col(id(Positions::Id))
                    .col(fk(Positions::UserId))
                    .col(fk_null(Positions::StrategyId))
                    .col(fk_null(Positions::AccountId))
                    .col(string(Positions::Exchange, 20))
                    .col(string(Positions::Symbol, 32))
                    .col(string(Positions::Side, 10).check((
                        "ck_positions_side",
                        Expr::col(Positions::Side).is_in(["LONG", "SHORT"]),
                    )))
                    .col(money(db, Positions::EntryPrice))
                    .col(money(db, Positions::Quantity))
                    .col(ColumnDef::new(Positions::Leverage).integer().not_null())
                    .col(string_default(Positions::MarginMode, 16, "isolated"))
                    .col(money_null(db, Positions::StopLoss))
                    .col(money_null(db, Positions::TakeProfit))
                    .col(money_null(db, Positions::LiquidationPrice))
                    .col(money_zero(db, Positions::UnrealizedPnl))
                    .col(money_zero(db, Positions::RealizedPnl))
                    .col(money_zero(db, Positions::Fees))
                    .col(money_null(db, Positions::ExitPrice))
                    .col(string_null(Positions::CloseReason, 32))
                    .col(string_default(Positions::Status, 20, "OPEN").check((
                        "ck_positions_status",
                        Expr::col(Positions::Status).is_in(["OPEN", "CLOSED"]),
                    )))
                    .col(created_at(Positions::OpenedAt))
                    .col(timestamp_null(Positions::ClosedAt))
                    .col(created_at(Positions::UpdatedAt))
                    .foreign_key(&mut fk_to(
                        Positions::Table,
                        Positions::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk_to(
                        Positions::Table,
                        Positions::StrategyId,
                        Strategies::Table,
                        Strategies::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk_to(
                        Positions::Table,
                        Positions::AccountId,
                        ApiKeys::Table,
                        ApiKeys::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_positions_user_id",
            Positions::Table,
            [Positions::UserId],
        )
        .await?;
        index(
            manager,
            "idx_positions_status",
            Positions::Table,
            [Positions::Status],
        )
        .await?;
        index(
            manager,
            "idx_positions_symbol",
            Positions::Table,
            [Positions::Symbol],
        )
        .await?;
        index(
            manager,
            "idx_positions_strategy_id",
            Positions::Table,
            [Positions::StrategyId],
        )
        .await?;

        // The client order id is derived from (strategy, signal, leg) and is
        // unique: a retry or a restart can never record, or place, an order twice.
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(id(Orders::Id))
                    .col(fk(Orders::UserId))
                    .col(fk_null(Orders::PositionId))
                    .col(fk_null(Orders::StrategyId))
                    .col(fk_null(Orders::SignalId))
                    .col(fk_null(Orders::AccountId))
                    .col(string(Orders::Exchange, 20))
                    .col(string_null(Orders::OrderId, 64))
                    .col(string(Orders::ClientOrderId, 64).unique_key())
                    .col(string(Orders::Leg, 16).check((
                        "ck_orders_leg",
                        Expr::col(Orders::Leg).is_in([
                            "entry",
                            "stop_loss",
                            "take_profit",
                            "close",
                        ]),
                    )))
                    .col(string(Orders::Symbol, 32))
                    .col(string(Orders::Side, 10).check((
                        "ck_orders_side",
                        Expr::col(Orders::Side).is_in(["BUY", "SELL"]),
                    )))
                    .col(string(Orders::Type, 32))
                    .col(money_null(db, Orders::Price))
                    .col(money_null(db, Orders::TriggerPrice))
                    .col(money(db, Orders::Quantity))
                    .col(money_zero(db, Orders::FilledQty))
                    .col(money_null(db, Orders::AvgFillPrice))
                    .col(money_zero(db, Orders::Fee))
                    .col(string_null(Orders::FeeAsset, 16))
                    .col(boolean(Orders::ReduceOnly, false))
                    .col(string(Orders::Status, 20))
                    .col(string_null(Orders::ErrorCode, 32))
                    .col(string_null(Orders::ErrorMessage, 512))
                    .col(created_at(Orders::CreatedAt))
                    .col(created_at(Orders::UpdatedAt))
                    .col(timestamp_null(Orders::FilledAt))
                    .foreign_key(&mut fk_to(
                        Orders::Table,
                        Orders::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk_to(
                        Orders::Table,
                        Orders::PositionId,
                        Positions::Table,
                        Positions::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk_to(
                        Orders::Table,
                        Orders::StrategyId,
                        Strategies::Table,
                        Strategies::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk_to(
                        Orders::Table,
                        Orders::SignalId,
                        Signals::Table,
                        Signals::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk_to(
                        Orders::Table,
                        Orders::AccountId,
                        ApiKeys::Table,
                        ApiKeys::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_orders_position_id",
            Orders::Table,
            [Orders::PositionId],
        )
        .await?;
        index(
            manager,
            "idx_orders_user_id_created_at",
            Orders::Table,
            [Orders::UserId, Orders::CreatedAt],
        )
        .await?;
        index(
            manager,
            "idx_orders_status",
            Orders::Table,
            [Orders::Status],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Performances::Table)
                    .col(id(Performances::Id))
                    .col(fk(Performances::UserId))
                    .col(ColumnDef::new(Performances::Date).date().not_null())
                    .col(money_zero(db, Performances::TotalPnl))
                    // Statistics, not money: plain doubles.
                    .col(
                        ColumnDef::new(Performances::WinRate)
                            .double()
                            .not_null()
                            .default(0.0),
                    )
                    .col(
                        ColumnDef::new(Performances::TotalTrades)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Performances::Roi)
                            .double()
                            .not_null()
                            .default(0.0),
                    )
                    .col(ColumnDef::new(Performances::SharpeRatio).double().null())
                    .col(created_at(Performances::CreatedAt))
                    .foreign_key(&mut fk_to(
                        Performances::Table,
                        Performances::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_performances_user_id_date")
                    .table(Performances::Table)
                    .col(Performances::UserId)
                    .col(Performances::Date)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Performances::Table.into_iden(),
            Orders::Table.into_iden(),
            Positions::Table.into_iden(),
            Signals::Table.into_iden(),
            WebhookTokens::Table.into_iden(),
            Strategies::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
