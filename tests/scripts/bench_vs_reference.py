#!/usr/bin/env python3
"""Side-by-side timings of pvf-node and the published reference host, alternating runs.

Usage: bench_vs_reference.py PVF_NODE_DIR REFERENCE_DIR CALL_HEAVY.wasm [ROUNDS]

- Pre-check of each real runtime in ../shared/realchain (as stored on chain): wall time of
  the preparation job, ours from `pvf-node prepare --kind precheck --json` (wall_time_ms,
  including the worker's spawn), the reference's from `polkadot-reference precheck`
  (wall_ms, excluding its host's start-up). Fresh cache every run on both sides.
- Execution of a call-heavy PVF (tests/pvfs `host_calls::call_heavy`: blake2-256 over 1 KiB,
  an sr25519 and an ed25519 verification per round): the reference's sequential round-trip
  p50 over ITER candidates (`polkadot-reference bench`, warm artifact) against our time per
  candidate through one execute worker (`pvf-node run --execute-workers 1` on ITER
  candidates: wall time / ITER, one preparation included), as `pvf-node run` submits a
  workload all at once.
Prints medians per side and the ratio reference / ours, and what it ran with.
"""
import json, os, statistics, subprocess, sys, tempfile

ITER = 40


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    return out.stdout


def ours_precheck(node, code):
    with tempfile.TemporaryDirectory() as cache:
        out = run([f"{node}/pvf-node", "prepare", "--kind", "precheck", "--code", code,
                   "--json", "--cache-path", cache])
    r = json.loads(out)
    assert r["outcome"] == "prepared", r
    return r["wall_time_ms"]


def ref_precheck(ref, code):
    r = json.loads(run([f"{ref}/polkadot-reference", "precheck", "--code", code]))
    assert r["outcome"] == "valid", r
    return r["wall_ms"]


def call_heavy_head(node, code):
    with tempfile.TemporaryDirectory() as cache:
        r = json.loads(run([f"{node}/pvf-node", "validate", "--code", code, "--parent-head", "00",
                            "--block-data", "00", "--exec-kind", "approval", "--json",
                            "--cache-path", cache]))
    assert r["verdict"] == "valid", r
    return r["head_data"]


def ours_exec(node, code, head, cache):
    workload = {
        "pvfs": [{"name": "call-heavy", "code": code}],
        "candidates": [{"name": f"c{i}", "pvf": "call-heavy", "kind": "approval",
                        "parent_head": "0x00", "block_data": "0x00", "relay_parent_number": 1,
                        "expect": "valid", "head_data": "0x" + head, "hrmp_watermark": 0}
                       for i in range(ITER)],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(workload, f)
        f.flush()
        out = subprocess.run([f"{node}/pvf-node", "run", "--workload", f.name, "--cache-path",
                              cache, "--no-prometheus", "--execute-workers", "1"],
                             capture_output=True, text=True)
    for line in (out.stdout + out.stderr).splitlines():
        if "p50" in line:
            assert "unexpected 0" in line, line
            wall_s = float(line.split("wall ")[1].split(" s")[0])
            return wall_s * 1000 / ITER
    raise SystemExit(f"no summary in pvf-node run output:\n{out.stdout}\n{out.stderr}")


def ref_exec(ref, code, head):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        f.write(json.dumps({"parent_head": "00", "block_data": "00", "expected": "valid",
                            "head_data": head}) + "\n")
        f.flush()
        r = json.loads(run([f"{ref}/polkadot-reference", "bench", ref, code, f.name,
                            str(ITER + 1)]))
    assert r["wrong"] == 0, r
    return r["p50_us"] / 1000


def main():
    node, ref, heavy = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    chain = os.path.join(os.path.dirname(__file__), "../../../shared/realchain")
    print(f"# {rounds} alternating rounds; machine: {os.cpu_count()} CPUs; "
          f"ours {node}, reference {ref}")
    print("| runtime | bytes on chain | ours p50 ms | reference p50 ms | reference / ours |")
    print("|---|---|---|---|---|")
    for name in sorted(os.listdir(chain)):
        if not name.endswith(".code.bin"):
            continue
        code = os.path.join(chain, name)
        o, r = [], []
        for _ in range(rounds):
            o.append(ours_precheck(node, code))
            r.append(ref_precheck(ref, code))
        mo, mr = statistics.median(o), statistics.median(r)
        print(f"| {name[:-9]} | {os.path.getsize(code)} | {mo:.0f} | {mr:.0f} | {mr / mo:.2f}x |")
    head = call_heavy_head(node, heavy)
    print(f"\ncall-heavy PVF ({heavy}), head {head[:16]}…, {ITER} candidates per run:")
    with tempfile.TemporaryDirectory() as cache:
        for i in range(rounds):
            ours = ours_exec(node, heavy, head, cache)
            theirs = ref_exec(ref, heavy, head)
            print(f"  round {i}: ours {ours:.1f} ms per candidate; reference p50 {theirs:.1f} ms;"
                  f" reference / ours {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
