#!/usr/bin/env python3
"""Writes grafana/dashboards/*.json: TradingBot's four dashboards, from the
panel lists below (one place to read and change them).

    python3 scripts/dashboards.py

The test `web/tests/observability.rs` checks every query here against a
real Prometheus scraping the real binary.
"""

import json
import os

DS = {"type": "prometheus", "uid": "prometheus"}

DASHBOARDS = {
    "execution": ("TradingBot · Execution", [
        ("Webhook → order latency", "s", [
            ("p50", 'histogram_quantile(0.5, sum by (le) (rate(webhook_to_order_seconds_bucket[5m])))'),
            ("p99", 'histogram_quantile(0.99, sum by (le) (rate(webhook_to_order_seconds_bucket[5m])))'),
            ("p99.9", 'histogram_quantile(0.999, sum by (le) (rate(webhook_to_order_seconds_bucket[5m])))'),
        ]),
        ("Webhook answer time p99", "s", [
            ("p99", 'histogram_quantile(0.99, sum by (le) (rate(webhook_response_seconds_bucket[5m])))'),
        ]),
        ("Signals by outcome", "ops", [("{{outcome}}", 'sum by (outcome) (rate(signals_total[5m]))')]),
        ("Webhook requests by outcome", "reqps", [("{{outcome}}", 'sum by (outcome) (rate(webhook_requests_total[5m]))')]),
        ("Orders by exchange and status", "ops", [("{{exchange}} {{status}}", 'sum by (exchange, status) (rate(orders_total[5m]))')]),
        ("Risk rejections by rule (1h)", "short", [("{{rule}}", 'sum by (rule) (increase(risk_rejections_total[1h]))')]),
    ]),
    "exchanges": ("TradingBot · Exchanges", [
        ("Rate-limit budget used", "percentunit", [("{{exchange}} {{limit}}", 'max by (exchange, limit) (exchange_rate_limit_usage_ratio)')]),
        ("429 and 418 answers (5m)", "short", [("{{exchange}} {{status}}", 'sum by (exchange, status) (increase(exchange_rate_limited_total[5m]))')]),
        ("Exchange request p99", "s", [("{{exchange}}", 'histogram_quantile(0.99, sum by (le, exchange) (rate(exchange_request_duration_seconds_bucket[5m])))')]),
        ("Orders rejected or unknown (1h)", "short", [("{{exchange}} {{status}}", 'sum by (exchange, status) (increase(orders_total{status=~"REJECTED|UNKNOWN|EXPIRED"}[1h]))')]),
        ("Unknown order outcomes (1h)", "short", [("{{exchange}}", 'sum by (exchange) (increase(exchange_unknown_outcomes_total[1h]))')]),
        ("Websocket reconnects (1h)", "short", [("{{exchange}} {{stream}}", 'sum by (exchange, stream) (increase(exchange_ws_reconnects_total[1h]))')]),
        ("Reconciliation repairs (1h)", "short", [("repairs", 'sum(increase(reconciliation_repairs_total[1h]))')]),
    ]),
    "service": ("TradingBot · Service", [
        ("HTTP requests by route", "reqps", [("{{route}}", 'sum by (route) (rate(http_requests_total[5m]))')]),
        ("HTTP p99 by route", "s", [("{{route}}", 'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))')]),
        ("HTTP 5xx", "reqps", [("5xx", 'sum(rate(http_requests_total{status=~"5.."}[5m]))')]),
        ("Database pool", "short", [("{{state}}", 'sum by (state) (db_pool_connections)')]),
        ("Redis reachable", "short", [("up", 'max(redis_up)')]),
        ("Actor mailbox depth", "short", [("{{actor}}", 'max by (actor) (actor_mailbox_depth)')]),
        ("Websocket sessions", "short", [("sessions", 'sum(ws_sessions)')]),
        ("Resident memory", "bytes", [("rss", 'process_resident_memory_bytes')]),
        ("CPU", "percentunit", [("cpu", 'rate(process_cpu_seconds_total[5m])')]),
    ]),
    "trading": ("TradingBot · Trading", [
        ("Open positions", "short", [("open", 'sum(positions_open)')]),
        ("Realized PnL today (USDT)", "currencyUSD", [("pnl", 'sum(realized_pnl_today_usdt)')]),
        ("Active strategies", "short", [("active", 'sum(strategies_active)')]),
        ("Kill switches engaged", "short", [("{{scope}}", 'max by (scope) (kill_switch_engaged)')]),
        ("Telegram alerts (1h)", "short", [
            ("sent", 'sum(increase(telegram_messages_sent_total[1h]))'),
            ("failed", 'sum(increase(telegram_messages_failed_total[1h]))'),
        ]),
        ("AI recommendations (1h)", "short", [("{{action}}", 'sum by (action) (increase(ai_recommendations_total[1h]))')]),
    ]),
}


def panel(i, title, unit, targets):
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + j), "datasource": DS, "expr": expr, "legendFormat": legend}
            for j, (legend, expr) in enumerate(targets)
        ],
    }


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "grafana", "dashboards")
    for name, (title, panels) in DASHBOARDS.items():
        board = {
            "uid": f"tradingbot-{name}",
            "title": title,
            "tags": ["tradingbot"],
            "timezone": "utc",
            "schemaVersion": 39,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "panels": [panel(i, *p) for i, p in enumerate(panels)],
        }
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(board, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
