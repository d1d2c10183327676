#!/usr/bin/python3
"""Tests for stats.py: each function on the student's data, on small known cases, on edge cases
and on a large random list. The submission runs in child processes (tests/call.py) with a time
limit; this script writes results.json last, so nothing the submission writes can stand in for it.
"""
import collections
import json
import math
import random
import subprocess
import sys

FUNCTIONS = ["mean", "median", "mode", "variance", "stdev"]
TIME_LIMIT = 10


def ref_mean(xs):
    return math.fsum(xs) / len(xs)


def ref_median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def ref_mode(xs):
    counts = collections.Counter(xs)
    top = max(counts.values())
    return min(x for x, c in counts.items() if c == top)


def ref_variance(xs):
    if len(xs) < 2:
        return 0.0
    m = ref_mean(xs)
    return math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def ref_stdev(xs):
    return math.sqrt(ref_variance(xs))


REFERENCE = {"mean": ref_mean, "median": ref_median, "mode": ref_mode, "variance": ref_variance, "stdev": ref_stdev}


def call(function, inputs):
    try:
        p = subprocess.run(
            [sys.executable, "tests/call.py"],
            input=json.dumps({"function": function, "inputs": inputs}),
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
        )
    except subprocess.TimeoutExpired:
        return [{"error": "ran longer than %d s" % TIME_LIMIT}] * len(inputs), False, None
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [{"error": "crashed: " + p.stderr[-500:]}] * len(inputs), False, None
    if out["import_error"]:
        return [{"error": "stats.py failed to import: " + out["import_error"]}] * len(inputs), False, out["import_error"]
    return out["results"], out["uses_statistics"], None


def close(got, expected):
    return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)


def short(xs):
    text = repr(xs)
    return text if len(text) <= 80 else text[:77] + "..."


def group(name, points, visibility, cases):
    """cases: [(function, xs)]; all must pass for the points."""
    failures = []
    by_function = collections.defaultdict(list)
    for function, xs in cases:
        by_function[function].append(xs)
    uses = False
    for function, inputs in by_function.items():
        results, used, _ = call(function, inputs)
        uses = uses or used
        for xs, r in zip(inputs, results):
            expected = REFERENCE[function](xs)
            if "error" in r:
                failures.append("%s(%s): %s" % (function, short(xs), r["error"]))
            elif not close(r["value"], expected):
                failures.append("%s(%s): expected %r, got %r" % (function, short(xs), expected, r["value"]))
    test = {
        "name": name,
        "score": 0 if failures else points,
        "max_score": points,
        "status": "failed" if failures else "passed",
        "output": "\n".join(failures[:10]),
        "visibility": visibility,
    }
    return test, uses


def main():
    with open("params.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    tests = []
    uses_statistics = False
    for function in FUNCTIONS:
        t, used = group("%s of your data set" % function, 1, "visible", [(function, data)])
        tests.append(t)
        uses_statistics = uses_statistics or used
    small = [[1, 2, 3, 4], [2, 2, 3, 9, 9, 9], [5, 1, 4]]
    t, _ = group("small lists with known answers", 1, "visible", [(f, xs) for f in FUNCTIONS for xs in small])
    tests.append(t)
    edge = [[7], [-3, -1, -2, -8], [0.5, 0.25, 0.125, 4.0], [3, 1, 3, 1, 2], [10**12, 10**12 + 1, 10**12 + 2]]
    t, _ = group("edge cases: one value, negatives, floats, ties, large values", 2, "after_due_date", [(f, xs) for f in FUNCTIONS for xs in edge])
    tests.append(t)
    rng = random.Random(len(data) * 7919 + sum(data))
    big = [rng.randint(-1000, 1000) for _ in range(20000)]
    t, _ = group("a list of 20 000 random numbers", 1, "hidden", [(f, big) for f in FUNCTIONS])
    tests.append(t)
    tests.append(
        {
            "name": "does not use the statistics module",
            "score": 0 if uses_statistics else 1,
            "max_score": 1,
            "status": "failed" if uses_statistics else "passed",
            "output": "stats.py imports the statistics module" if uses_statistics else "",
            "visibility": "visible",
        }
    )
    score = sum(t["score"] for t in tests)
    results = {
        "score": score,
        "max_score": sum(t["max_score"] for t in tests),
        "output": "All tests passed." if score == 10 else "Some tests failed: see below.",
        "tests": tests,
    }
    with open("results.json", "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
