#!/usr/bin/env python3
"""Runs every candidate of tests/real-blocks through the published reference host and records
its verdicts and heads in tests/real-blocks/reference.json (the oracle the test suite checks).

Usage: tests/scripts/real_blocks_reference.py [REFERENCE_BIN_DIR]
(default ~/.cache/reference-host-target/release; build it as ../shared/reference-host/README.md says).
Each candidate runs in its own reference host with a fresh artifact cache, as backing.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCKS = os.path.join(ROOT, "tests", "real-blocks")


def main():
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/reference-host-target/release")
    reference = os.path.join(bin_dir, "polkadot-reference")
    workload = json.load(open(os.path.join(BLOCKS, "workload.json")))
    codes = {p["name"]: os.path.join(BLOCKS, p["code"]) for p in workload["pvfs"]}
    out = {}
    for c in workload["candidates"]:
        folder = os.path.join(BLOCKS, "candidates", c["name"])
        cmd = [
            reference, "validate",
            "--code", codes[c["pvf"]],
            "--parent-head", "@" + os.path.join(folder, "parent-head.bin"),
            "--block-data", "@" + os.path.join(folder, "block-data.bin"),
            "--pov-compressed",
            "--exec-kind", c.get("kind", "backing"),
            "--relay-parent-number", str(c["relay_parent_number"]),
            "--relay-parent-storage-root", c["relay_parent_storage_root"],
        ]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        try:
            answer = json.loads(run.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = {"verdict": "error", "reason": "no JSON: " + run.stderr[-500:]}
        out[c["name"]] = {
            "verdict": answer.get("verdict"),
            "head_data": answer.get("head_data"),
            "reason": answer.get("reason", ""),
            "panic": answer.get("panic", ""),
            "execute_ms": answer.get("execute_ms"),
        }
        print(f'{c["name"]}: {answer.get("verdict")} {answer.get("reason", "")[:100]}', flush=True)
    with open(os.path.join(BLOCKS, "reference.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
