#!/usr/bin/python3
"""Tests for the Caesar cipher: compiles caesar.c and runs it on several inputs.

Runs in the work dir, beside the submission (caesar.c), this tests/ folder and params.json (the
student's variant). Writes results.json in the Gradescope-compatible format Lectern reads.
"""
import json
import os
import random
import subprocess
import sys

TIME_LIMIT = 5
OUTPUT_CAP = 2000


def rotate(text, shift):
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)


def clip(text):
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + "\n[... cut]"


def run(args, stdin):
    try:
        p = subprocess.run(["./caesar", *args], input=stdin.encode("latin-1"), capture_output=True, timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        return None, "the program ran longer than %d s" % TIME_LIMIT
    if p.returncode != 0:
        return None, "the program exited with code %d\n%s" % (p.returncode, clip(p.stderr.decode("latin-1")))
    return p.stdout.decode("latin-1"), ""


def check(name, points, visibility, args, stdin, expected, show_input=True):
    got, problem = run(args, stdin)
    if got == expected:
        return {"name": name, "score": points, "max_score": points, "status": "passed", "output": "", "visibility": visibility}
    if got is None:
        message = problem
    else:
        message = "expected %r\n     got %r" % (clip(expected), clip(got))
        if show_input:
            message = "input    %r\n%s" % (clip(stdin), message)
    return {"name": name, "score": 0, "max_score": points, "status": "failed", "output": message, "visibility": visibility}


def main():
    with open("params.json", encoding="utf-8") as f:
        params = json.load(f)
    shift = int(params["shift"])
    phrase = params["phrase"]
    tests = []

    compiled = subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-O2", "-pipe", "-o", "caesar", "caesar.c"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": os.environ.get("TMPDIR", "/tmp"), "LANG": "C.UTF-8"},
    )
    warnings = compiled.stderr.strip()
    if compiled.returncode != 0:
        results = {
            "score": 0,
            "max_score": 10,
            "output": "caesar.c did not compile:\n" + clip(warnings),
            "tests": [{"name": "compiles", "score": 0, "max_score": 1, "status": "failed", "output": clip(warnings), "visibility": "visible"}],
        }
        with open("results.json", "w", encoding="utf-8") as f:
            json.dump(results, f)
        return
    tests.append({"name": "compiles", "score": 1, "max_score": 1, "status": "passed", "output": clip(warnings), "visibility": "visible"})

    lower = "abcdefghijklmnopqrstuvwxyz\n"
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
    other = "0123456789 .,;:!?-_()[]{}\t\"'\n\xe9\xff\n"
    tests.append(check("rotates lowercase letters, wrapping z to a", 1, "visible", [], lower, rotate(lower, shift)))
    tests.append(check("rotates uppercase letters and keeps their case", 1, "visible", [], upper, rotate(upper, shift)))
    tests.append(check("copies everything that is not a letter unchanged", 1, "visible", [], other, other))
    tests.append(check("encrypts your test phrase", 2, "visible", [], phrase + "\n", rotate(phrase, shift) + "\n"))
    secret = rotate("The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs!\n", shift)
    tests.append(check("decrypts with -d", 2, "after_due_date", ["-d"], secret, rotate(secret, -shift)))
    rng = random.Random(shift)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n.,!?"
    big = "".join(rng.choice(alphabet) for _ in range(200000))
    tests.append(check("encrypts 200 000 characters", 2, "hidden", [], big, rotate(big, shift), show_input=False))

    score = sum(t["score"] for t in tests)
    results = {
        "score": score,
        "max_score": 10,
        "output": "All tests passed." if score == 10 else "Some tests failed: see below.",
        "tests": tests,
    }
    with open("results.json", "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    sys.exit(main())
