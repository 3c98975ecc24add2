#!/usr/bin/env python3
"""Runs the differential corpus through our pvf-node and compares with the recorded reference.

    python3 tests/differential/compare.py PATH/TO/pvf-node [--only REGEX ...] [--node-arg ARG ...]
        [--markdown FILE] [--json FILE] [--reference FILE]

Prints a table (Markdown): case, the reference's raw outcome, ours, both mapped through the same
rule (caselib.policy_class: what a validator would do with it), whether the head data is equal
when both are valid, and the difference. A case that needs a flag our binary does not have yet
(--executor-params, --relay-parent-storage-root, --bomb-limit) is listed as not run. Exit status
0 when every case that ran agrees, 1 otherwise.

Our workers are found next to pvf-node (or pass --node-arg=--workers-path=DIR); each run of this
script uses a fresh artifact cache in a temporary folder.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caselib import HERE, bytes_arg, ensure_big, last_json, load_cases, norm_hex, path_of, policy_class, wall_limit_s  # noqa: E402


def capabilities(node):
    caps = {}
    for sub in ("validate", "prepare"):
        p = subprocess.run([node, sub, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        caps[sub] = p.stdout.decode(errors="replace")
    return caps


def ours_argv(node, case, caps, cache, extra):
    """The command line for our node, or (None, why) when it lacks a flag the case needs."""
    sub = "prepare" if case["cmd"] == "precheck" else "validate"
    helptext = caps[sub]
    argv = [node, sub, "--code", path_of(case["code"]), "--json", "--cache-path", cache]
    if sub == "prepare":
        argv += ["--kind", "precheck"]
    needs = []
    if case["executor_params"] not in ("0x00", "00", ""):
        needs.append(("--executor-params", case["executor_params"]))
    if case.get("bomb_limit") is not None:
        needs.append(("--bomb-limit", str(case["bomb_limit"])))
    if sub == "validate":
        argv += ["--parent-head", bytes_arg(case["parent_head"]), "--block-data", bytes_arg(case["block_data"]),
                 "--exec-kind", case["exec_kind"], "--relay-parent-number", str(case["relay_parent_number"])]
        if case.get("timeout_ms") is not None:
            argv += ["--timeout-ms", str(case["timeout_ms"])]
        if case.get("relay_parent_storage_root"):
            needs.append(("--relay-parent-storage-root", case["relay_parent_storage_root"]))
        if case.get("pov_compressed") and "--pov-compressed" in helptext:
            argv += ["--pov-compressed"]
    for flag, value in needs:
        if flag not in helptext:
            return None, f"not run: our `pvf-node {sub}` has no {flag}"
        argv += [flag, value]
    return argv + extra, None


def head_diff(a, b):
    if a == b:
        return ""
    ba, bb = bytes.fromhex(a or ""), bytes.fromhex(b or "")
    i = next((k for k in range(min(len(ba), len(bb))) if ba[k] != bb[k]), min(len(ba), len(bb)))
    lo = i - i % 4
    return (f"head differs at byte {i} (u32 #{i // 4}): ref {ba[lo:lo + 8].hex() or '-'} vs ours {bb[lo:lo + 8].hex() or '-'}"
            f"; lengths {len(ba)} / {len(bb)}")


def code(s):
    """Markdown code span that survives backticks inside."""
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def strip_backtrace(s):
    """Drops wasmtime's backtrace (function indices and offsets differ between engines)."""
    s = (s or "").split("\nWASM backtrace")[0]
    return s.split("\\nWASM backtrace")[0]


def short(s, n=150):
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("node")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--node-arg", action="append", default=[])
    ap.add_argument("--reference", default=os.path.join(HERE, "reference.json"))
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()

    with open(a.reference) as f:
        ref = json.load(f)
    cases = [c for c in load_cases(a.only) if c["name"] in ref["results"]]
    ensure_big(cases)
    caps = capabilities(a.node)
    cache = tempfile.mkdtemp(prefix="pvf-differential-cache-")
    rows, ours_all = [], {}
    try:
        for i, c in enumerate(cases):
            r = ref["results"][c["name"]]
            argv, why = ours_argv(a.node, c, caps, cache, a.node_arg)
            o = {"raw": None, "reason": why, "class": "not run"}
            if argv:
                t0 = time.monotonic()
                try:
                    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=wall_limit_s(c))
                    j = last_json(p.stdout) or {}
                    raw = j.get("outcome") if c["cmd"] == "precheck" else j.get("verdict")
                    if raw is None:
                        raw = "error"
                        j["reason"] = "no JSON from pvf-node (exit %s): %s" % (
                            p.returncode, short(p.stderr.decode(errors="replace")[-300:], 300))
                except subprocess.TimeoutExpired:
                    raw, j = "error", {"reason": f"no answer within {wall_limit_s(c)} s (compare.py's limit)"}
                o = {"raw": raw, "reason": j.get("reason") or "", "head_data": norm_hex(j.get("head_data")),
                     "class": policy_class(c["cmd"], raw, j.get("reason"), "ours"),
                     "wall_s": round(time.monotonic() - t0, 2)}
            ours_all[c["name"]] = o
            diff = []
            status = "agree"
            if o["raw"] is None:
                status, diff = "not run", [o["reason"]]
            else:
                if o["class"] != r["class"]:
                    diff.append(f"class: ref {r['class']} vs ours {o['class']}")
                elif r["class"] == "valid" and r.get("head_data") != o.get("head_data"):
                    diff.append(head_diff(r.get("head_data"), o.get("head_data")))
                if diff:
                    status = "DIFFER"
                elif o["raw"] != r["raw"] and not (c["cmd"] == "precheck" and o["class"] == "valid"):
                    diff.append(f"same class, raw outcome differs ({r['raw']} vs {o['raw']})")
            heq = ""
            if c["cmd"] == "validate" and r["class"] == "valid" and o.get("class") == "valid":
                heq = "yes" if r.get("head_data") == o.get("head_data") else "**no**"
            rows.append((c, r, o, heq, status, "; ".join(diff)))
            print(f"[{i + 1}/{len(cases)}] {c['name']}: ref {r['raw']} / ours {o['raw']} -> {status} {short('; '.join(diff), 200)}",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    n = {s: sum(1 for row in rows if row[4] == s) for s in ("agree", "DIFFER", "not run")}
    version = subprocess.run([a.node, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.decode().strip()
    crates = ref["meta"].get("reference_crates", {})
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: ours `{version}` (repository HEAD {head or '?'}), "
             f"reference recorded {ref['meta'].get('date', '?')} (polkadot-node-core-pvf {crates.get('polkadot-node-core-pvf', '?')}, "
             f"sc-executor-wasmtime {crates.get('sc-executor-wasmtime', '?')}, wasmtime {crates.get('wasmtime', '?')}).", "",
             f"{len(rows)} cases: {n['agree']} agree, {n['DIFFER']} differ, {n['not run']} not run", "",
             "| case | reference (raw) | ours (raw) | ref class | our class | head equal | status | difference |",
             "|---|---|---|---|---|---|---|---|"]
    for c, r, o, heq, status, diff in rows:
        lines.append(f"| `{c['name']}` | {r['raw']} | {o['raw'] or '-'} | {r['class']} | {o['class']} | {heq} | "
                     f"{'**DIFFER**' if status == 'DIFFER' else status} | {short(diff, 160).replace('|', '/')} |")
    lines += ["", "Reasons of the cases that differ (reference / ours):", ""]
    for c, r, o, heq, status, diff in rows:
        if status == "DIFFER":
            ok = "valid" if c["cmd"] == "precheck" else None
            rr = short(strip_backtrace(r["reason"]), 220) or ok or f"valid, head {short(r.get('head_data') or '-', 40)}"
            orr = short(strip_backtrace(o["reason"]), 220) or ok or f"valid, head {short(o.get('head_data') or '-', 40)}"
            lines.append(f"- `{c['name']}`: ref {code(rr)} / ours {code(orr)}")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(ours_all, f, indent=1)
    sys.exit(0 if n["DIFFER"] == 0 else 1)


if __name__ == "__main__":
    main()
