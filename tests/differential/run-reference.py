#!/usr/bin/env python3
"""Runs every case of cases.json through the reference (polkadot-sdk PVF host, ../shared/reference-host)
and records the oracle output in reference.json.

    python3 tests/differential/run-reference.py [--binary PATH] [--only REGEX ...] [--out FILE]

--binary defaults to $REFERENCE_HOST_TARGET/release/polkadot-reference (default target dir
~/.cache/reference-host-target); build it first as ../shared/reference-host/README.md says (this
script never builds). Needs root (the reference's sandbox). --only re-runs matching cases and merges
them into the existing file. Worker logs go to $DIFF_LOG_DIR (default /tmp/differential-logs).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caselib import HERE, ensure_big, last_json, load_cases, norm_hex, policy_class, reference_argv, wall_limit_s  # noqa: E402

REF_SRC = os.environ.get("REFERENCE_HOST_SRC", "/work/shared/reference-host")
CRATES = ["polkadot-node-core-pvf", "polkadot-node-core-pvf-common", "polkadot-node-core-pvf-prepare-worker",
          "polkadot-node-core-pvf-execute-worker", "polkadot-primitives", "sc-executor-wasmtime", "sc-executor-common",
          "sc-allocator", "sp-io", "sp-maybe-compressed-blob", "wasm-instrument", "parity-wasm", "wasmtime"]


def crate_versions():
    out = {}
    try:
        text = open(os.path.join(REF_SRC, "Cargo.lock")).read()
    except OSError:
        return out
    for block in text.split("[[package]]"):
        m = re.search(r'name = "([^"]+)"\nversion = "([^"]+)"', block)
        if m and m.group(1) in CRATES:
            out.setdefault(m.group(1), []).append(m.group(2))
    return {k: ", ".join(sorted(set(v))) for k, v in out.items()}


def panic_lines(stderr):
    """Lines of the workers' log worth keeping: panics, runtime errors, allocator messages."""
    keep = []
    for line in stderr.decode(errors="replace").splitlines():
        l = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if any(k in l for k in ("panicked", "target=runtime", " runtime:", "wasm-heap", "Failed to")):
            keep.append(l.strip()[:400])
    return keep[:6]


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("REFERENCE_HOST_TARGET", os.path.expanduser("~/.cache/reference-host-target"))
    ap.add_argument("--binary", default=os.path.join(target, "release", "polkadot-reference"))
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--out", default=os.path.join(HERE, "reference.json"))
    a = ap.parse_args()

    cases = load_cases(a.only)
    ensure_big(cases)
    log_dir = os.environ.get("DIFF_LOG_DIR", "/tmp/differential-logs")
    os.makedirs(log_dir, exist_ok=True)

    doc = {"meta": {}, "results": {}}
    if a.only and os.path.exists(a.out):
        with open(a.out) as f:
            doc = json.load(f)
    results = doc["results"]
    for i, c in enumerate(cases):
        argv = reference_argv(a.binary, c)
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=wall_limit_s(c))
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = e.stdout or b"", e.stderr or b"", None
        secs = time.monotonic() - t0
        with open(os.path.join(log_dir, c["name"] + ".reference.stderr"), "wb") as f:
            f.write(err)
        j = last_json(out) or {}
        raw = j.get("outcome") if c["cmd"] == "precheck" else j.get("verdict")
        if rc is None:
            raw, j["reason"] = "error", f"no answer within {wall_limit_s(c)} s (run-reference.py's limit)"
        r = {
            "cmd": c["cmd"],
            "raw": raw,
            "reason": j.get("reason", ""),
            "class": policy_class(c["cmd"], raw, j.get("reason", ""), "reference"),
            "exit": rc,
        }
        if j.get("head_data") is not None:
            r["head_data"] = norm_hex(j["head_data"])
        if j.get("panic"):
            r["panic"] = j["panic"]
        lines = panic_lines(err)
        if lines:
            r["log"] = lines
        r["wall_s"] = round(secs, 2)
        results[c["name"]] = r
        head = (r.get("head_data") or "")[:48]
        print(f"[{i + 1}/{len(cases)}] {c['name']}: {raw} ({secs:.1f} s) {r['reason'][:160]!r} {head}",
              file=sys.stderr, flush=True)

    doc["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "binary": a.binary,
        "reference_crates": crate_versions(),
        "partial_rerun": bool(a.only) or doc["meta"].get("partial_rerun", False),
    }
    # keep the order of cases.json
    order = [c["name"] for c in load_cases()]
    doc["results"] = {k: results[k] for k in order if k in results}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main()
