#!/usr/bin/python3
"""The harness for stats.py: each function on the student's data, on small known cases, on edge
cases and on a large random list.

It runs alone in the harness sandbox (with tests/, params.json and a read-only copy of the
submission under submission/). The student's code never runs here: every call goes through
run_student, which starts a fresh student sandbox holding stats.py and the small driver
tests/call.py, and gives back what it printed. The expected values are computed here and never
leave this sandbox; only this harness can write results.json.
"""
import collections
import json
import math
import random
import re

from lectern import params, run_student, write_results

FUNCTIONS = ["mean", "median", "mode", "variance", "stdev"]
TIME_LIMIT = 10
with open("tests/call.py", encoding="utf-8") as _f:
    DRIVER = _f.read()


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
    # The statistics module reads as empty in the student's sandbox: whatever the code does to
    # reach it (a hidden import, importlib, exec of its source), no value can come from it.
    r = run_student(["/usr/bin/python3", "lectern_call.py"], stdin=json.dumps({"function": function, "inputs": inputs}),
                    files={"lectern_call.py": DRIVER}, wall=TIME_LIMIT, without_modules=["statistics"])
    if r.status != "ok":
        return [{"error": "the program " + r.describe()}] * len(inputs), False, None
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if out.get("import_error"):
            return [{"error": "stats.py failed to import: " + str(out["import_error"])[:500]}] * len(inputs), False, out["import_error"]
        results = out["results"]
        if not isinstance(results, list) or len(results) != len(inputs):
            raise ValueError("wrong shape")
    except (ValueError, IndexError, KeyError, TypeError, AttributeError):
        return [{"error": "crashed: " + r.stderr[-500:]}] * len(inputs), False, None
    return results, bool(out.get("uses_statistics")), None


def imports_statistics():
    """The source, read here (never run here), only to explain a failure: what decides is that
    the module is not there for the student's code (see call())."""
    try:
        with open("submission/stats.py", encoding="utf-8", errors="replace") as f:
            source = f.read()
    except OSError:
        return False
    return re.search(r"^\s*(import\s+statistics\b|from\s+statistics\s+import)", source, re.M) is not None


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
            if not isinstance(r, dict):
                failures.append("%s(%s): no usable answer" % (function, short(xs)))
            elif "error" in r:
                failures.append("%s(%s): %s" % (function, short(xs), str(r["error"])[:500]))
            elif isinstance(r.get("value"), bool) or not isinstance(r.get("value"), (int, float)):
                failures.append("%s(%s): returned %r, which is not a number" % (function, short(xs), r.get("value")))
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
    data = params()["data"]
    tests = []
    uses_statistics = imports_statistics()
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
    # Only worth a point for a submission that computes something: an empty one must score 0.
    # Every value that passed was computed without the module (it was not there), so a hidden
    # use cannot earn points; an open import still costs this point, as the statement says.
    works = any(t["score"] for t in tests)
    avoids = works and not uses_statistics
    tests.append(
        {
            "name": "does not use the statistics module",
            "score": 1 if avoids else 0,
            "max_score": 1,
            "status": "passed" if avoids else "failed",
            "output": "stats.py imports the statistics module (it is not available here: write the functions yourself)" if uses_statistics else "" if works else "counts once a function works",
            "visibility": "visible",
        }
    )
    score = sum(t["score"] for t in tests)
    write_results(tests, output="All tests passed." if score == 10 else "Some tests failed: see below.")


if __name__ == "__main__":
    main()
