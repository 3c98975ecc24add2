#!/usr/bin/env python3
"""Real parachain candidates (tests/real-blocks) through pvf-node and the published reference
host, side by side in one run, alternating per round.

Usage: bench_real_blocks.py PVF_NODE_DIR REFERENCE_DIR [ROUNDS] [REPEAT]

- Throughput and round trip: the valid candidates of tests/real-blocks (9 blocks of 3 chains),
  each REPEAT times (default 10), submitted all at once to a host with 2 execute workers and
  every artifact already prepared. Ours: `pvf-node run --workload` on a warm cache (its p50
  latency and wall time; the wall time includes the node's start-up). The reference:
  `reference-real-bench` (tests/reference-bench: polkadot-node-core-pvf 36, same submission,
  after preparing each PVF once; its wall time excludes start-up and preparation).
- First candidate after a restart: wall time of one process validating block 1 of each chain.
  Ours: `pvf-node run` on a one-candidate workload with the cache of the runs above (the node
  keeps artifacts across restarts: it checksums them at start-up and prepares nothing);
  `pvf-node validate` is not used, since it always prepares. The reference:
  `polkadot-reference validate`, whose cache is a fresh temp dir each run (that CLI keeps no
  artifacts across restarts), so it prepares first.
- Artifact sizes: ours from `pvf-node prepare --json`, the reference's from its cache folder.
Prints medians over ROUNDS (default 3) per side, the ratios, and what it ran with.
"""
import json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCKS = os.path.join(ROOT, "tests", "real-blocks")


def sh(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def valid_workload(repeat, path):
    w = json.load(open(os.path.join(BLOCKS, "workload.json")))
    pvfs = [dict(p, code=os.path.join(BLOCKS, p["code"])) for p in w["pvfs"]]
    valid = [c for c in w["candidates"] if c["expect"] == "valid"]
    cands = [dict(c, name=f'{c["name"]}#{i}') for i in range(repeat) for c in valid]
    json.dump({"pvfs": pvfs, "candidates": cands}, open(path, "w"))
    return len(cands), valid


def ours_run(node, workload, cache):
    out = sh([f"{node}/pvf-node", "run", "--workload", workload, "--cache-path", cache,
              "--no-prometheus"]).stdout
    line = [l for l in out.splitlines() if l.startswith("candidates ")][-1]
    f = line.split()
    n, unexpected = int(f[1]), int(f[3])
    p50, wall = float(f[f.index("p50") + 1]), float(f[f.index("wall") + 1])
    assert unexpected == 0, out
    return {"p50_ms": p50, "wall_s": wall, "per_second": n / wall}


def ref_run(bench, ref, workload):
    out = sh([bench, "--workers-dir", ref, "--workload", workload]).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["wrong"] == 0, r
    return r


def first_candidate(cmd):
    t = time.monotonic()
    out = sh(cmd)
    wall = (time.monotonic() - t) * 1e3
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["verdict"] == "valid", (cmd, r, out.stderr[-400:])
    return wall


def ours_first(node, candidate, cache, tmp):
    path = os.path.join(tmp, "one.json")
    pvf = {"name": candidate["pvf"], "code": os.path.join(BLOCKS, candidate["pvf"] + ".code.bin")}
    json.dump({"pvfs": [pvf], "candidates": [candidate]}, open(path, "w"))
    t = time.monotonic()
    out = sh([f"{node}/pvf-node", "run", "--workload", path, "--cache-path", cache, "--no-prometheus"])
    wall = (time.monotonic() - t) * 1e3
    assert out.returncode == 0 and "preparations 0" in out.stdout, out.stdout
    return wall


def main():
    node, ref = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    bench = os.path.join(ref, "reference-real-bench")
    tmp = tempfile.mkdtemp()
    workload = os.path.join(tmp, "valid.json")
    n, valid = valid_workload(repeat, workload)
    cache = os.path.join(tmp, "cache")
    ours_run(node, workload, cache)  # prepares every artifact once
    print(f"candidates per run: {n} ({len(valid)} valid real blocks x {repeat}); rounds: {rounds}; "
          f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)

    firsts = [c for c in valid if c["name"].endswith("-block-1")]
    samples = {k: [] for k in ["ours_p50", "ref_p50", "ours_ps", "ref_ps"]}
    first = {c["pvf"]: {"ours": [], "ref": []} for c in firsts}
    ref_artifacts = {}
    for r in range(rounds):
        o = ours_run(node, workload, cache)
        x = ref_run(bench, ref, workload)
        ref_artifacts = {p["pvf"]: p["artifact_bytes"] for p in x["prepared"]}
        samples["ours_p50"].append(o["p50_ms"]); samples["ours_ps"].append(o["per_second"])
        samples["ref_p50"].append(x["p50_ms"]); samples["ref_ps"].append(x["per_second"])
        print(f"round {r}: ours p50 {o['p50_ms']:.1f} ms {o['per_second']:.1f}/s; "
              f"reference p50 {x['p50_ms']:.1f} ms {x['per_second']:.1f}/s", flush=True)
        for c in firsts:
            folder = os.path.join(BLOCKS, "candidates", c["name"])
            code = os.path.join(BLOCKS, c["pvf"] + ".code.bin")
            common = ["--code", code, "--parent-head", "@" + os.path.join(folder, "parent-head.bin"),
                      "--block-data", "@" + os.path.join(folder, "block-data.bin"),
                      "--relay-parent-number", str(c["relay_parent_number"]),
                      "--relay-parent-storage-root", c["relay_parent_storage_root"],
                      "--exec-kind", "backing"]
            first[c["pvf"]]["ours"].append(ours_first(node, c, cache, tmp))
            first[c["pvf"]]["ref"].append(first_candidate(
                [f"{ref}/polkadot-reference", "validate", *common, "--pov-compressed"]))

    med = statistics.median
    print("\n| measure | ours (median) | reference (median) | reference / ours |")
    print("|---|---:|---:|---:|")
    print(f"| round trip p50, ms | {med(samples['ours_p50']):.1f} | {med(samples['ref_p50']):.1f} | "
          f"{med(samples['ref_p50']) / med(samples['ours_p50']):.2f}x |")
    print(f"| candidates per second | {med(samples['ours_ps']):.1f} | {med(samples['ref_ps']):.1f} | "
          f"{med(samples['ref_ps']) / med(samples['ours_ps']):.2f}x |")
    print("\n| chain | first candidate after restart: ours ms (warm cache) | reference ms (prepares) | "
          "reference / ours | artifact bytes ours | artifact bytes reference |")
    print("|---|---:|---:|---:|---:|---:|")
    for pvf, t in first.items():
        ours_art = json.loads(sh([f"{node}/pvf-node", "prepare", "--code",
                                  os.path.join(BLOCKS, pvf + ".code.bin"), "--json",
                                  "--cache-path", os.path.join(tmp, "sizes")]).stdout)["artifact_bytes"]
        print(f"| {pvf} | {med(t['ours']):.0f} | {med(t['ref']):.0f} | {med(t['ref']) / med(t['ours']):.1f}x | "
              f"{ours_art} | {ref_artifacts.get(pvf, '?')} |")


if __name__ == "__main__":
    main()
