"""Shared by run-reference.py and compare.py: loading cases, building command lines, classifying.

A case (see gen.py and cases.json) is either a `precheck` of a code file or a `validate` of one
candidate. Both hosts print one JSON object; the raw outcomes are kept as printed and then mapped
through one rule, `policy_class`, so that the two are compared as a validator would act on them.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_cases(only=None):
    with open(os.path.join(HERE, "cases.json")) as f:
        cases = json.load(f)["cases"]
    if only:
        pats = [re.compile(p) for p in only]
        cases = [c for c in cases if any(p.search(c["name"]) for p in pats)]
    return cases


def ensure_big(cases):
    """corpus/big/ holds files too large to commit; gen.py --big writes them (deterministically)."""
    missing = [c for c in cases if c.get("needs_big") and not os.path.exists(path_of(c["code"]))]
    if missing:
        print("writing corpus/big/ (gen.py --big) ...", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "--big"], check=True)


def path_of(rel):
    return rel if os.path.isabs(rel) else os.path.join(HERE, rel)


def bytes_arg(v):
    """HEX stays as is; @relative/path becomes @absolute/path."""
    if v.startswith("@"):
        return "@" + path_of(v[1:])
    return v


def wall_limit_s(case):
    """How long to wait for one run before giving up on it (the hosts have their own limits)."""
    if case["group"] == "realchain":
        return 900
    t = case.get("timeout_ms") or (2000 if case.get("exec_kind") == "backing" else 12000)
    return 120 + 4 * t / 1000


def reference_argv(binary, case):
    argv = [binary, case["cmd"], "--code", path_of(case["code"]), "--executor-params", case["executor_params"]]
    if case.get("bomb_limit") is not None:
        argv += ["--bomb-limit", str(case["bomb_limit"])]
    if case["cmd"] == "validate":
        argv += ["--parent-head", bytes_arg(case["parent_head"]), "--block-data", bytes_arg(case["block_data"]),
                 "--exec-kind", case["exec_kind"], "--relay-parent-number", str(case["relay_parent_number"])]
        if case.get("relay_parent_storage_root"):
            argv += ["--relay-parent-storage-root", case["relay_parent_storage_root"]]
        if case.get("timeout_ms") is not None:
            argv += ["--timeout-ms", str(case["timeout_ms"])]
        if case.get("pov_compressed"):
            argv += ["--pov-compressed"]
    return argv


def last_json(stdout):
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def norm_hex(h):
    if h is None:
        return None
    h = h.lower()
    return h[2:] if h.startswith("0x") else h


PREPARATION_FAILED = re.compile(r"^(Preparation\(|preparation failed)")


def policy_class(cmd, raw, reason, side):
    """The verdict a validator would act on.

    precheck: valid -> valid (vote for), invalid -> invalid (vote against), error -> no-vote.
    validate (candidate-validation's rule in polkadot-sdk): valid -> valid; invalid -> invalid,
    except a failed preparation, which gets no vote (the code was pre-checked and enacted, so this
    node is the odd one out); possibly-invalid -> invalid (backing never retries; approval and
    dispute retry once, and a deterministic cause repeats); error -> no-vote.
    A failed preparation is recognised by its reason: the reference CLI prints "invalid" with
    "Preparation(...)"; our node prints "preparation failed: ..." (and at 1435a32 printed "error").
    The same rule applies to both sides; `side` is only informative.
    """
    if raw is None:
        return "n/a"
    if cmd == "precheck":
        return {"valid": "valid", "prepared": "valid", "invalid": "invalid"}.get(raw, "no-vote")
    if raw == "valid":
        return "valid"
    if raw == "invalid":
        if PREPARATION_FAILED.match(reason or ""):
            return "no-vote"
        return "invalid"
    if raw == "possibly-invalid":
        return "invalid"
    return "no-vote"
