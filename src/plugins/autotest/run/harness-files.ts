import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * What a harness sandbox gets besides its bundle: the `run_student` command and the `lectern`
 * Python module, both talking to the runner over the socket at $LECTERN_SOCKET (one JSON request
 * per connection, one JSON answer). Kept as text here, like the sandbox wrapper, so that the
 * built server carries them; written once per content to a host dir bound read-only at /lectern.
 */
export const PYTHON_MODULE = `"""Lectern grading helpers for a harness (see docs/grading.md).

    from lectern import run_student, params, write_results
    r = run_student(["./prog", "-d"], stdin="hello\\\\n", files={"prog": binary}, wall=5)
    r.status, r.exit_code, r.stdout, r.stderr, r.wall_ms, r.files["out.txt"]

run_student runs argv in a fresh student sandbox holding a copy of the submission plus the
files given; nothing of this harness (tests/, params.json, results.json) is in there.
"""
import base64
import json
import os
import socket

SOCKET = os.environ.get("LECTERN_SOCKET", "/lectern/sock/s")
SUBMISSION = "submission"


class RunStudentError(Exception):
    """The call was refused (too many calls, no time left, a bad request)."""


class StudentRun:
    def __init__(self, d):
        self.status = d["status"]
        self.exit_code = d.get("exit_code")
        self.signal = d.get("signal")
        self.stdout = d.get("stdout", "")
        self.stderr = d.get("stderr", "")
        self.stdout_truncated = d.get("stdout_truncated", False)
        self.stderr_truncated = d.get("stderr_truncated", False)
        self.wall_ms = d.get("wall_ms", 0)
        self.cpu_ms = d.get("cpu_ms", 0)
        self.message = d.get("message")
        self.calls_left = d.get("calls_left")
        self.files = {k: base64.b64decode(v) for k, v in d.get("files", {}).items()}

    @property
    def ok(self):
        """Ran to the end and exited with 0."""
        return self.status == "ok" and self.exit_code == 0

    def describe(self):
        """A short line for feedback: how the run ended."""
        if self.status == "ok":
            return "exited with code %s" % self.exit_code
        return {"timeout": "ran out of time", "memory": "ran out of memory", "output_limit": "printed too much output",
                "crashed": "crashed (%s)" % self.signal}.get(self.status, self.status)

    def __repr__(self):
        return "StudentRun(status=%r, exit_code=%r, wall_ms=%r)" % (self.status, self.exit_code, self.wall_ms)


def _b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(bytes(data)).decode("ascii")


def module_files(names):
    """The files of installed Python modules (source, cached bytecode; every file of a package)."""
    import importlib.util
    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        origin = getattr(spec, "origin", None) if spec else None
        if not origin or not os.path.isfile(origin):
            raise RunStudentError("without_modules: %r is not an installed module" % (name,))
        out.append(origin)
        for opt in ("", 1, 2):
            try:
                out.append(importlib.util.cache_from_source(origin, optimization=opt))
            except (ValueError, NotImplementedError):
                pass
        for d in (spec.submodule_search_locations or []):
            for root, _, files in os.walk(d):
                out.extend(os.path.join(root, f) for f in files)
    return sorted({os.path.realpath(p) for p in out if os.path.isfile(p)})


def run_student(argv, stdin=b"", files=None, collect=(), wall=None, cpu=None, memory=None, output=None, processes=None, without_modules=()):
    """Runs argv (a list) in a fresh student sandbox; returns a StudentRun.

    stdin: str or bytes. files: {relative name: str or bytes} added beside the submission.
    collect: names of files to bring back (r.files). Limits (wall/cpu in seconds, memory/output
    in bytes) can only lower the bundle's student_limits. without_modules: Python modules the
    student's code must not use (e.g. ["statistics"]): their files read as empty in the student
    sandbox, so no import trick, copy or loader inside can get at them.
    """
    limits = {k: v for k, v in (("wall", wall), ("cpu", cpu), ("memory", memory), ("output", output), ("processes", processes)) if v is not None}
    request = {
        "argv": [str(a) for a in argv],
        "stdin": _b64(stdin),
        "files": {str(k): _b64(v) for k, v in (files or {}).items()},
        "collect": [str(c) for c in collect],
        "limits": limits,
        "hide": module_files(without_modules) if without_modules else [],
    }
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(SOCKET)
        s.sendall(json.dumps(request).encode("utf-8") + b"\\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    if not chunks:
        raise RunStudentError("run_student: no answer (the run is ending)")
    answer = json.loads(b"".join(chunks).decode("utf-8"))
    if not answer.get("ok"):
        raise RunStudentError(answer.get("error", "run_student failed"))
    return StudentRun(answer)


def params():
    """The student's variant parameters."""
    with open("params.json", encoding="utf-8") as f:
        return json.load(f)


def submission_files():
    """Names of the submitted files (read-only copies under submission/: read them, never run them here)."""
    out = []
    for root, _, names in os.walk(SUBMISSION):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), SUBMISSION))
    return sorted(out)


def write_results(tests, output=None, score=None, max_score=None, gradable=True):
    """Writes results.json: tests is a list of dicts (name, score, max_score, status, output, visibility)."""
    results = {"tests": tests}
    if output is not None:
        results["output"] = output
    if score is not None:
        results["score"] = score
    if max_score is not None:
        results["max_score"] = max_score
    if not gradable:
        results["gradable"] = False
    with open("results.json", "w", encoding="utf-8") as f:
        json.dump(results, f)
`;

export const RUN_STUDENT_CLI = `#!/usr/bin/python3
"""run_student [--stdin FILE] [--file NAME=PATH]... [--collect NAME]... [--wall S] [--cpu S]
            [--memory BYTES] [--output BYTES] [--processes N] [--without-module NAME]... [--json] -- ARGV...

Runs ARGV in a fresh student sandbox (a copy of the submission plus the --file files). Prints the
program's stdout and stderr, writes the --collect files into the current dir, and exits with the
program's exit code (124: out of time, 125: other limits or crash). --without-module: a Python
module the program may not use reads as empty in its sandbox. --json prints everything as
one JSON object instead. Exit 126 when the call is refused.
"""
import argparse
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "python"))
from lectern import RunStudentError, run_student  # noqa: E402

p = argparse.ArgumentParser(prog="run_student")
p.add_argument("--stdin")
p.add_argument("--file", action="append", default=[])
p.add_argument("--collect", action="append", default=[])
p.add_argument("--wall", type=float)
p.add_argument("--cpu", type=float)
p.add_argument("--memory", type=int)
p.add_argument("--output", type=int)
p.add_argument("--processes", type=int)
p.add_argument("--without-module", action="append", default=[])
p.add_argument("--json", action="store_true")
p.add_argument("argv", nargs=argparse.REMAINDER)
a = p.parse_args()
argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
if not argv:
    p.error("give the command to run after --")
files = {}
for spec in a.file:
    name, _, src = spec.partition("=")
    with open(src or name, "rb") as f:
        files[name] = f.read()
stdin = b""
if a.stdin:
    with open(a.stdin, "rb") as f:
        stdin = f.read()
try:
    r = run_student(argv, stdin=stdin, files=files, collect=a.collect, wall=a.wall, cpu=a.cpu, memory=a.memory, output=a.output, processes=a.processes,
                    without_modules=a.without_module)
except RunStudentError as e:
    sys.stderr.write("run_student: %s\\n" % e)
    sys.exit(126)
for name, data in r.files.items():
    if "/" not in name:
        with open(name, "wb") as f:
            f.write(data)
if a.json:
    print(json.dumps({"status": r.status, "exit_code": r.exit_code, "signal": r.signal, "stdout": r.stdout, "stderr": r.stderr,
                      "wall_ms": r.wall_ms, "cpu_ms": r.cpu_ms, "message": r.message, "files": sorted(r.files)}))
    sys.exit(0)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
if r.status == "ok":
    sys.exit(r.exit_code or 0)
sys.exit(124 if r.status == "timeout" else 125)
`;

let written: Promise<string> | null = null;

/** The host dir holding bin/run_student and python/lectern.py (created once, never changed). */
export function harnessHelpersDir(tmpDir = os.tmpdir()): Promise<string> {
  written ??= (async () => {
    const hash = createHash('sha256').update(PYTHON_MODULE).update(RUN_STUDENT_CLI).digest('hex').slice(0, 16);
    const dir = path.join(tmpDir, `lectern-harness-${process.getuid?.() ?? 0}-${hash}`);
    try {
      const st = await stat(dir);
      if (st.isDirectory() && st.uid === (process.getuid?.() ?? 0) && (st.mode & 0o022) === 0) return dir;
      throw new Error(`${dir} is not a private directory of this user: remove it`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await mkdir(path.join(tmp, 'bin'), { recursive: true, mode: 0o755 });
    await mkdir(path.join(tmp, 'python'), { mode: 0o755 });
    // The mount point of the run's socket dir (the helpers are bound read-only above it).
    await mkdir(path.join(tmp, 'sock'), { mode: 0o755 });
    await writeFile(path.join(tmp, 'bin', 'run_student'), RUN_STUDENT_CLI, { mode: 0o755 });
    await writeFile(path.join(tmp, 'python', 'lectern.py'), PYTHON_MODULE, { mode: 0o644 });
    for (const d of [tmp, path.join(tmp, 'bin'), path.join(tmp, 'python'), path.join(tmp, 'sock')]) await chmod(d, 0o755);
    await chmod(path.join(tmp, 'bin', 'run_student'), 0o755);
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  })();
  written.catch(() => {
    written = null;
  });
  return written;
}
