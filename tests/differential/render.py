#!/usr/bin/env python3
"""Prints the corpus as a Markdown table with the reference's recorded answer for each case
(for docs/differential.md):

    python3 tests/differential/render.py [--reference FILE]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caselib import HERE, load_cases  # noqa: E402


def code(s):
    """Markdown code span that survives backticks inside."""
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def strip_backtrace(s):
    """Drops wasmtime's backtrace (function indices and offsets differ between engines)."""
    s = (s or "").split("\nWASM backtrace")[0]
    return s.split("\\nWASM backtrace")[0]


def short(s, n):
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default=os.path.join(HERE, "reference.json"))
    a = ap.parse_args()
    ref = {}
    if os.path.exists(a.reference):
        with open(a.reference) as f:
            ref = json.load(f)["results"]
    group = None
    cases = load_cases()
    order = {}
    for c in cases:
        order.setdefault(c["group"], len(order))
    for c in sorted(cases, key=lambda c: order[c["group"]]):  # stable: case order kept within a group
        if c["group"] != group:
            group = c["group"]
            print(f"\n#### {group}\n")
            print("| case | probes | reference | reason / head data |")
            print("|---|---|---|---|")
        r = ref.get(c["name"], {})
        extra = []
        if c["executor_params"] not in ("0x00",):
            extra.append(f"params `{c['executor_params']}`")
        if c.get("bomb_limit") is not None:
            extra.append(f"bomb limit {c['bomb_limit']}")
        if c.get("timeout_ms") is not None:
            extra.append(f"timeout {c['timeout_ms']} ms")
        if c.get("exec_kind") and c["exec_kind"] != "approval":
            extra.append(c["exec_kind"])
        probe = c["probe"] + (f" ({', '.join(extra)})" if extra else "")
        if r.get("raw") == "valid" and "head_data" in r:
            detail = "head " + code(short(r["head_data"], 72))
        else:
            detail = code(short(strip_backtrace(r.get("reason")), 150)) if r.get("reason") else ""
            if r.get("panic"):
                detail += " panic: " + code(short(r["panic"], 100))
        verdict = r.get("raw", "(not run)")
        print(f"| `{c['name']}` | {short(probe, 200).replace('|', '/')} | {verdict} | {detail.replace('|', '/')} |")


if __name__ == "__main__":
    main()
