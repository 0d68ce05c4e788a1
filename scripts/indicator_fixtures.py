#!/usr/bin/env python3
"""Regenerates core/tests/fixtures/indicators_btcusd_1d.csv and
template_signals_btcusd_1d.csv: reference values of every indicator, and
the signals of every template at its defaults, on the bundled BTC daily
candles, computed independently of our Rust code.

TA-Lib (the C library, through the `TA-Lib` package from PyPI) gives SMA,
EMA, WMA, RSI, MACD, BBANDS, ATR and STOCH. Supertrend and VWAP are not in
TA-Lib; they are computed here straight from TradingView's Pine reference
definitions (`ta.supertrend`, `ta.atr` / `ta.rma`, `ta.vwap`).

    python3 -m venv /tmp/talib && /tmp/talib/bin/pip install 'TA-Lib>=0.6' numpy   # fixtures made with 0.8.2
    /tmp/talib/bin/python scripts/indicator_fixtures.py
"""

import csv
import datetime as dt
import math
import os

import numpy as np
import talib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "assets", "candles", "btcusd_1d_bitstamp_2017-2020.csv")
OUT = os.path.join(ROOT, "core", "tests", "fixtures", "indicators_btcusd_1d.csv")
SIGNALS = os.path.join(ROOT, "core", "tests", "fixtures", "template_signals_btcusd_1d.csv")


def load():
    rows = []
    with open(SRC, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(r)
    return rows


def supertrend(high, low, close, period, factor):
    """Pine's ta.supertrend, line by line."""
    n = len(close)
    tr = [0.0] * n
    for i in range(n):
        if i == 0:
            tr[i] = high[i] - low[i]
        else:
            tr[i] = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    atr = [math.nan] * n
    for i in range(n):
        if i == period - 1:
            atr[i] = sum(tr[: period]) / period
        elif i >= period:
            alpha = 1.0 / period
            atr[i] = alpha * tr[i] + (1 - alpha) * atr[i - 1]
    upper = [math.nan] * n
    lower = [math.nan] * n
    line = [math.nan] * n
    direction = [0] * n
    for i in range(n):
        if math.isnan(atr[i]):
            continue
        src = (high[i] + low[i]) / 2
        up = src + factor * atr[i]
        lo = src - factor * atr[i]
        prev_lo = 0.0 if i == 0 or math.isnan(lower[i - 1]) else lower[i - 1]
        prev_up = 0.0 if i == 0 or math.isnan(upper[i - 1]) else upper[i - 1]
        prev_close = close[i - 1] if i > 0 else 0.0
        lo = lo if (lo > prev_lo or prev_close < prev_lo) else prev_lo
        up = up if (up < prev_up or prev_close > prev_up) else prev_up
        if i == 0 or math.isnan(atr[i - 1]):
            d = 1
        elif line[i - 1] == prev_up:
            d = -1 if close[i] > up else 1
        else:
            d = 1 if close[i] < lo else -1
        upper[i], lower[i] = up, lo
        line[i] = lo if d == -1 else up
        direction[i] = d
    return line, direction


def vwap_weekly(dates, high, low, close, volume):
    out = []
    week = None
    pv = vol = 0.0
    for d, h, l, c, v in zip(dates, high, low, close, volume):
        day = dt.date.fromisoformat(d)
        monday = day - dt.timedelta(days=day.weekday())
        if monday != week:
            week, pv, vol = monday, 0.0, 0.0
        tp = (h + l + c) / 3
        pv += tp * v
        vol += v
        out.append(pv / vol if vol > 0 else tp)
    return out


def crosses(a, b):
    """Pine's ta.crossover / ta.crossunder per bar: 'long', 'short' or ''."""
    out = []
    for i in range(len(a)):
        sig = ""
        if i > 0 and not any(math.isnan(x) for x in (a[i], b[i], a[i - 1], b[i - 1])):
            if a[i] > b[i] and a[i - 1] <= b[i - 1]:
                sig = "long"
            elif a[i] < b[i] and a[i - 1] >= b[i - 1]:
                sig = "short"
        out.append(sig)
    return out


def level_crosses(x, low, high):
    out = []
    for i in range(len(x)):
        sig = ""
        if i > 0 and not math.isnan(x[i]) and not math.isnan(x[i - 1]):
            if x[i] > low and x[i - 1] <= low:
                sig = "long"
            elif x[i] < high and x[i - 1] >= high:
                sig = "short"
        out.append(sig)
    return out


def band_crosses(close, up_line, down_line):
    """Long when close crosses over up_line, short when under down_line."""
    out = []
    for i in range(len(close)):
        sig = ""
        if i > 0 and not math.isnan(up_line[i - 1]):
            if close[i] > up_line[i] and close[i - 1] <= up_line[i - 1]:
                sig = "long"
            elif close[i] < down_line[i] and close[i - 1] >= down_line[i - 1]:
                sig = "short"
        out.append(sig)
    return out


def trend_turns(direction):
    out = []
    for i in range(len(direction)):
        sig = ""
        if i > 0 and direction[i - 1] != 0 and direction[i] != 0:
            if direction[i - 1] == 1 and direction[i] == -1:
                sig = "long"
            elif direction[i - 1] == -1 and direction[i] == 1:
                sig = "short"
        out.append(sig)
    return out


def main():
    rows = load()
    dates = [r["Date"] for r in rows]
    o, h, l, c, v = (
        np.array([float(r[k]) for r in rows], dtype=float)
        for k in ("Open", "High", "Low", "Close", "Volume")
    )
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    bb_up, bb_mid, bb_lo = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    k, d = talib.STOCH(h, l, c, 5, 3, 0, 3, 0)
    st, st_dir = supertrend(list(h), list(l), list(c), 10, 3.0)
    cols = {
        "sma20": talib.SMA(c, 20),
        "ema9": talib.EMA(c, 9),
        "ema21": talib.EMA(c, 21),
        "wma20": talib.WMA(c, 20),
        "rsi14": talib.RSI(c, 14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": bb_up,
        "bb_middle": bb_mid,
        "bb_lower": bb_lo,
        "atr14": talib.ATR(h, l, c, 14),
        "stoch_k": k,
        "stoch_d": d,
        "supertrend": st,
        "supertrend_dir": [float(x) if x != 0 else math.nan for x in st_dir],
        "vwap_week": vwap_weekly(dates, list(h), list(l), list(c), list(v)),
        "vol_sma20": talib.SMA(v, 20),
    }
    signals = {
        "sig_ema_crossover": crosses(talib.EMA(c, 9), talib.EMA(c, 21)),
        "sig_rsi_reversal": level_crosses(talib.RSI(c, 14), 30.0, 70.0),
        "sig_macd_cross": crosses(macd, signal),
        "sig_bollinger": band_crosses(c, bb_lo, bb_up),
        "sig_bollinger_breakout": band_crosses(c, bb_up, bb_lo),
        "sig_supertrend": trend_turns(st_dir),
    }
    with open(SIGNALS, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date"] + list(signals))
        for i, day in enumerate(dates):
            w.writerow([day] + [col[i] for col in signals.values()])
    with open(OUT, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date"] + list(cols))
        for i, day in enumerate(dates):
            w.writerow([day] + ["" if math.isnan(col[i]) else repr(float(col[i])) for col in cols.values()])
    print(f"wrote {OUT} ({len(dates)} rows, TA-Lib {talib.__version__})")


if __name__ == "__main__":
    main()
