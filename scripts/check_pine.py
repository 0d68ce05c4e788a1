#!/usr/bin/env python3
"""Parses Pine Script files with pynescript (PyPI) and prints, per file, a
JSON summary the tests check: the `//@version`, the `strategy()` title, the
inputs (variable, kind, default), the `strategy.entry` / `strategy.exit` /
`alert` calls and whether each carries an `alert_message` (or alerts
nobody: `disable_alert`), or the syntax
error with its line.

    pip install pynescript
    python3 scripts/check_pine.py a.pine b.pine
"""

import json
import re
import sys

from pynescript import ast as pine


def dotted(node):
    if isinstance(node, pine.Name):
        return node.id
    if isinstance(node, pine.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def constant(node):
    if isinstance(node, pine.Constant):
        return node.value
    return None


def summarize(path):
    src = open(path, encoding="utf-8").read()
    m = re.search(r"^//@version=(\d+)", src, re.M)
    out = {"file": path, "version": int(m.group(1)) if m else None}
    try:
        tree = pine.parse(src)
    except Exception as e:  # pynescript raises SyntaxError with a line
        line = getattr(e, "lineno", None)
        match = re.search(r"line (\d+)", str(e))
        out["error"] = {"line": line or (int(match.group(1)) if match else None), "message": str(e).splitlines()[0]}
        return out
    inputs, calls, title = [], [], None
    for node in pine.walk(tree):
        if isinstance(node, pine.Assign) and isinstance(node.value, pine.Call):
            name = dotted(node.value.func) or ""
            if name.startswith("input"):
                target = node.target.id if isinstance(node.target, pine.Name) else None
                default = constant(node.value.args[0].value) if node.value.args else None
                inputs.append({"name": target, "kind": name, "default": default})
        if isinstance(node, pine.Call):
            name = dotted(node.func)
            if name == "strategy" and node.args:
                title = constant(node.args[0].value)
            if name in ("strategy.entry", "strategy.exit", "strategy.close", "alert", "alertcondition"):
                kwargs = [a.name for a in node.args if getattr(a, "name", None)]
                calls.append({
                    "call": name,
                    "alert_message": "alert_message" in kwargs,
                    "disable_alert": "disable_alert" in kwargs,
                })
    out.update({"title": title, "inputs": inputs, "calls": calls})
    return out


if __name__ == "__main__":
    print(json.dumps([summarize(p) for p in sys.argv[1:]]))
