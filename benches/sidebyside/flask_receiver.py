"""The baseline: a minimal TradingView webhook receiver as such bots are
commonly built (Flask under gunicorn). It does the work every receiver must
do before it may trade — parse the alert, check its secret in constant time,
refuse a replayed id, validate the fields, size the order in Decimal — and
answers 202 with the order it would send. It sends nothing anywhere, so
the comparison flatters it: TradingBot also risk-checks, signs and sends a
real order and records everything.

    gunicorn -w 2 -b 127.0.0.1:8101 flask_receiver:app
"""

import hmac
import json
import os
from decimal import ROUND_DOWN, Decimal

from flask import Flask, request

app = Flask(__name__)

SECRETS = {}  # path token -> secret, from TARGETS ("<path> <secret> <symbol> <price>")
for line in open(os.environ.get("TARGETS", "targets.txt"), encoding="utf-8"):
    parts = line.split()
    if len(parts) == 4:
        SECRETS[parts[0].rsplit("/", 1)[-1]] = parts[1]

SEEN = set()  # ids already traded (per worker, as such bots keep them)
EQUITY = Decimal("10000")
STEP = Decimal("0.001")


def problem(status, code):
    return {"code": code}, status


@app.post("/api/v1/webhook/<path:token>")
def webhook(token):
    secret = SECRETS.get(token.rsplit("/", 1)[-1])
    if secret is None:
        return problem(404, "webhook_unknown")
    try:
        alert = json.loads(request.get_data())
    except ValueError:
        return problem(400, "webhook_malformed")
    if not hmac.compare_digest(str(alert.get("secret", "")), secret):
        return problem(401, "webhook_auth_failed")
    key = (token, alert.get("id"))
    if key in SEEN:
        return {"status": "duplicate"}, 200
    action, position = alert.get("action"), alert.get("market_position")
    if action not in ("buy", "sell") or position not in ("long", "short", "flat"):
        return problem(422, "webhook_invalid")
    price = Decimal(str(alert.get("price", "0")))
    if price <= 0:
        return problem(422, "webhook_invalid")
    SEEN.add(key)
    if position == "flat":
        return {"status": "accepted", "order": {"side": "SELL", "reduce_only": True}}, 202
    qty = (EQUITY * Decimal("0.10") * 3 / price).quantize(STEP, rounding=ROUND_DOWN)
    return {"status": "accepted", "order": {"side": "BUY", "quantity": str(qty)}}, 202
