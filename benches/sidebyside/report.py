"""Prints the side-by-side table of a run.sh run (its results.jsonl)."""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
by = {(r["name"], r["connections"]): r["result"] for r in rows}
server = {(r["name"], r["connections"]): r.get("server") or {} for r in rows}


def ms(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us} µs"


print(
    "| receiver | connections | requests/s | accepted/s | p50 | p99 | p99.9 | refused | failed "
    "| RSS after | records stored after |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (name, conns), r in by.items():
    st = server[(name, conns)]
    rss = f"{st['rss_kb'] / 1024:.0f} MB" if st.get("rss_kb") else "—"
    stored = f"{st['stored_after_s']:g} s" if "stored_after_s" in st else "—"
    print(
        f"| {name} | {conns} | {r['rps']:.0f} | {r['accepted_rps']:.0f} | {ms(r['p50_us'])} | "
        f"{ms(r['p99_us'])} | {ms(r['p999_us'])} | {r['refused']} | {r['failed'] + r['errors']} "
        f"| {rss} | {stored} |"
    )
print()
print("Ratios (TradingBot / Flask): accepted alerts per second, and p99 latency (lower is better)")
for conns in (1, 32):
    base = by.get(("flask", conns))
    if not base:
        continue
    for venue in ("paper", "paper-redis", "binance"):
        r = by.get((f"tradingbot-{venue}", conns))
        if r:
            thr = r["accepted_rps"] / base["accepted_rps"] if base["accepted_rps"] else float("nan")
            lat = r["p99_us"] / base["p99_us"] if base["p99_us"] else float("nan")
            print(f"- {venue}, {conns} connection(s): throughput ×{thr:.2f}, p99 ×{lat:.2f}")
