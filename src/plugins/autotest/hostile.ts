/**
 * The built-in hostile submissions of the publish-time self-check: each tries one way of
 * fooling a grader and solves nothing, so any score above zero means the bundle can be fooled.
 * Written for the bundle's language (by its first expected file name).
 */
export interface Hostile {
  name: string;
  /** What it tries, for the lecturer. */
  tries: string;
  source: string;
}

const RESULTS = '{"score": 1000000, "max_score": 1000000, "output": "forged", "tests": [{"name": "forged", "score": 1, "max_score": 1, "status": "passed"}]}';

const C: Hostile[] = [
  {
    name: 'writes results.json',
    tries: 'writes a full-marks results.json (and one saying "gradable": false) in its work dir and in tests/',
    source: `#include <stdio.h>
#include <sys/stat.h>
static void put(const char *p, const char *s) { FILE *f = fopen(p, "w"); if (f) { fputs(s, f); fclose(f); } }
int main(void) {
    mkdir("tests", 0755);
    put("tests/results.json", ${JSON.stringify(RESULTS)});
    put("../results.json", ${JSON.stringify(RESULTS)});
    put("results.json", ${JSON.stringify(RESULTS)});
    return 0;
}
`,
  },
  {
    name: 'reads tests/',
    tries: 'prints every file it can find under tests/, ../tests and /work/tests',
    source: `#include <stdio.h>
#include <dirent.h>
static void dump(const char *d) { DIR *dir = opendir(d); struct dirent *e; char p[4096]; if (!dir) return;
    while ((e = readdir(dir))) { if (e->d_name[0] == '.') continue; snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        FILE *f = fopen(p, "r"); int c; if (!f) continue; printf("== %s\\n", p); while ((c = fgetc(f)) != EOF) putchar(c); fclose(f); }
    closedir(dir); }
int main(void) { dump("tests"); dump("../tests"); dump("/work/tests"); dump("/tests"); return 0; }
`,
  },
  {
    name: 'leaves a detached child',
    tries: 'double-forks a child that rewrites results.json a second later and stays alive',
    source: `#include <stdio.h>
#include <unistd.h>
int main(void) {
    if (fork() == 0) { setsid(); if (fork() == 0) { sleep(1); FILE *f = fopen("results.json", "w"); if (f) { fputs(${JSON.stringify(RESULTS)}, f); fclose(f); } sleep(60); } _exit(0); }
    return 0;
}
`,
  },
  { name: 'floods output', tries: 'prints without end', source: '#include <stdio.h>\nint main(void) { for (;;) fputs("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\n", stdout); }\n' },
  { name: 'forks', tries: 'forks as many processes as it can', source: '#include <unistd.h>\nint main(void) { for (int i = 0; i < 100000; i++) fork(); sleep(2); return 0; }\n' },
  {
    name: 'opens the network',
    tries: 'connects to 1.1.1.1:80 and 127.0.0.1:8080',
    source: `#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
static void try(const char *ip, int port) { int s = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
    printf("%s:%d %s\\n", ip, port, s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? "open" : "closed"); if (s >= 0) close(s); }
int main(void) { try("1.1.1.1", 80); try("127.0.0.1", 8080); return 0; }
`,
  },
  { name: 'prints the environment', tries: 'prints every environment variable', source: '#include <stdio.h>\nextern char **environ;\nint main(void) { for (char **e = environ; *e; e++) puts(*e); return 0; }\n' },
];

const PY: Hostile[] = [
  {
    name: 'writes results.json',
    tries: 'writes a full-marks results.json at import and from an atexit handler, in its work dir and in tests/',
    source: `import atexit, os
R = ${JSON.stringify(RESULTS)}
def forge():
    for p in ("results.json", "../results.json", "tests/results.json"):
        try:
            os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
            with open(p, "w") as f:
                f.write(R)
        except OSError:
            pass
forge()
atexit.register(forge)
`,
  },
  {
    name: 'reads tests/',
    tries: 'prints every file it can find under tests/, ../tests and /work/tests',
    source: `import os
for d in ("tests", "../tests", "/work/tests", "/tests"):
    for root, _, names in os.walk(d):
        for n in names:
            try:
                print("==", os.path.join(root, n)); print(open(os.path.join(root, n), errors="replace").read())
            except OSError:
                pass
`,
  },
  {
    name: 'leaves a detached child',
    tries: 'double-forks a child that rewrites results.json a second later and stays alive',
    source: `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1)
        with open("results.json", "w") as f:
            f.write(${JSON.stringify(RESULTS)})
        time.sleep(60)
    os._exit(0)
`,
  },
  { name: 'floods output', tries: 'prints without end', source: 'import sys\nwhile True:\n    sys.stdout.write("A" * 4096)\n' },
  { name: 'forks', tries: 'forks as many processes as it can', source: 'import os, time\nfor _ in range(100000):\n    try:\n        os.fork()\n    except OSError:\n        break\ntime.sleep(2)\n' },
  {
    name: 'opens the network',
    tries: 'connects to 1.1.1.1:80 and 127.0.0.1:8080',
    source: `import socket
for host, port in (("1.1.1.1", 80), ("127.0.0.1", 8080)):
    try:
        socket.create_connection((host, port), timeout=2).close(); print(host, port, "open")
    except OSError as e:
        print(host, port, "closed", e)
`,
  },
  { name: 'prints the environment', tries: 'prints every environment variable', source: 'import os\nfor k, v in os.environ.items():\n    print(k, v)\n' },
];

const SH: Hostile[] = [
  { name: 'writes results.json', tries: 'is a shell script writing a full-marks results.json', source: `#!/bin/sh\necho '${RESULTS}' > results.json\nmkdir -p tests; echo '${RESULTS}' > tests/results.json\n` },
  { name: 'reads tests/', tries: 'is a shell script printing tests/', source: '#!/bin/sh\ncat tests/* ../tests/* /work/tests/* 2>&1\n' },
  { name: 'prints the environment', tries: 'is a shell script printing its environment', source: '#!/bin/sh\nenv\n' },
];

/** A concrete file name for the bundle's first expected file (a glob becomes "main"). */
export function hostileFileName(patterns: string[]): string {
  const first = patterns[0] ?? 'main.txt';
  return first.replace(/\*\*\/?/g, '').replace(/[*?]/g, 'main').replace(/\[[^\]]*\]/g, 'm').replace(/[{}]/g, '') || 'main.txt';
}

export function hostileSubmissions(patterns: string[]): Array<Hostile & { file: string }> {
  const file = hostileFileName(patterns);
  const set = file.endsWith('.c') ? C : file.endsWith('.py') ? PY : SH;
  return set.map((h) => ({ ...h, file }));
}
