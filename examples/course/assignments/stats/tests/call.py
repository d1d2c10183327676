"""Calls one function of the student's stats.py on several inputs, in its own process.

Reads {"function": name, "inputs": [[...], ...]} on stdin and prints one JSON list with, per
input, {"value": ...} or {"error": "..."}, plus whether the module imported `statistics`.
"""
import copy
import json
import sys

sys.path.insert(0, ".")  # the work dir: stats.py (the submission) beside this driver
request = json.load(sys.stdin)
out = {"results": [], "uses_statistics": False, "import_error": None}
try:
    import stats  # noqa: E402  (the submission)
except BaseException as e:  # a broken submission must still give a report
    out["import_error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))
    sys.exit(0)
out["uses_statistics"] = "statistics" in sys.modules
fn = getattr(stats, request["function"], None)
for xs in request["inputs"]:
    if not callable(fn):
        out["results"].append({"error": "stats.py has no function %s" % request["function"]})
        continue
    before = copy.deepcopy(xs)
    try:
        value = fn(xs)
    except BaseException as e:
        out["results"].append({"error": "%s: %s" % (type(e).__name__, e)})
        continue
    if xs != before:
        out["results"].append({"error": "the function changed its argument"})
        continue
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out["results"].append({"error": "returned %r, which is not a number" % (value,)})
        continue
    out["results"].append({"value": value})
print(json.dumps(out))
