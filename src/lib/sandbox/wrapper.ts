/**
 * The first program inside every sandbox: one bash process (bash is Essential on Debian, so it
 * is always under the read-only /usr). It does in-process what would otherwise cost extra
 * programs per job:
 * - closes every inherited file descriptor but 0-3. Node passes on descriptors it inherited
 *   without close-on-exec (a systemd socket on fd 3, a test runner's pipes), bwrap does not close
 *   them, and dash cannot close descriptors above 9.
 * - copies the read-only inputs into the writable work dir,
 * - sets the rlimits with the `ulimit` builtin in a subshell (a fork, no exec), so the wrapper
 *   keeps its own limits for the collection step; rlimits set here, inside the new user
 *   namespace, are counted per namespace (RLIMIT_NPROC uses per-namespace ucounts), so
 *   concurrent sandboxes of the same host user do not share one process budget,
 * - reports on fd 3 the command's exit code and the CPU time of its waited-for process tree
 *   (`times`: Node cannot read a child's rusage), then streams the files to collect as a tar.
 * The wrapper's own stderr goes to /dev/null so that bash's report of a command killed by a
 * signal does not end up in the command's output.
 * As pid 1 of the sandbox (bwrap --as-pid-1) it also reaps orphans and, after the command, counts
 * ("left N", a tamper sign for grading) and kills what the command left behind so the collection
 * sees a quiet work dir; then, with nothing else alive, reports the network namespace's
 * OutNoRoutes counters ("net N": attempts to reach outside the sandbox, another tamper sign).
 *
 * With a write observer (observer.ts; its path, or ''), the command is started through it: it
 * keeps fd 3 for its "ro" lines, which the command does not get, and ends as the command ended.
 *
 * Positional arguments: cpuSeconds asKiB fsizeKiB openFiles processes niceness observer
 *   nCopies {source target}... nCollect {path}... nEnv {NAME=value}... -- argv...
 */
export const WRAPPER_SCRIPT = `
for f in /proc/self/fd/*; do f=\${f##*/}; if (( f > 3 )); then exec {f}>&-; fi; done
echo 1000 >/proc/self/oom_score_adj 2>/dev/null
exec 4>&2 2>/dev/null
work=$PWD
cpu=$1 mem=$2 fsize=$3 nofile=$4 nproc=$5 nice=$6 observe=$7; shift 7
n=$1; shift
while (( n > 0 )); do
  if ! msg=$(/bin/cp -R --preserve=mode,timestamps --no-dereference -- "$1" "$2" 2>&1); then
    printf 'error copying the inputs into the work dir failed: %s\\n' "\${msg//$'\\n'/ }" >&3; exit 125
  fi
  shift 2; n=$((n - 1))
done
n=$1; shift; collect=("\${@:1:n}"); shift "$n"
n=$1; shift; envs=("\${@:1:n}"); shift "$n"
shift
stop=0
if (( $$ == 1 )); then trap 'stop=1; kill -KILL -1 2>/dev/null' USR1; fi
(
  exec 2>&4 4>&-
  unset PWD OLDPWD SHLVL
  (( \${#envs[@]} )) && export "\${envs[@]}"
  ulimit -c 0 -n "$nofile" -u "$nproc" -f "$fsize" -d "$mem" && ulimit -S -t "$cpu" && ulimit -H -t $((cpu + 1)) ||
    { echo 'error the resource limits could not be set' >&3; exit 125; }
  echo start >&3
  (( nice > 0 )) && set -- /usr/bin/nice -n "$nice" -- "$@"
  if [[ $observe ]]; then
    shopt -s execfail; exec "$observe" 3 -- "$@"
    shopt -u execfail; echo 'ro-off the observer could not be started' >&3
  fi
  exec -- "$@" 3>&-
) <&0 &
cmd=$!
until wait "$cmd"; rc=$?; (( ! stop )) || ! kill -0 "$cmd" 2>/dev/null; do :; done
others() {
  n=0
  for p in /proc/[0-9]*; do
    p=\${p##*/}; (( p == 1 || p == BASHPID )) && continue
    read -r st <"/proc/$p/stat" || continue; st=\${st##*) }
    [[ \${st:0:1} == Z ]] || n=$((n + 1))
  done
}
if (( $$ == 1 )); then
  if (( ! stop )); then
    others
    printf 'left %d\\n' "$n" >&3
    kill -KILL -1 2>/dev/null
  fi
  for (( i = 0; i < 2000; i++ )); do others; (( n == 0 )) && break; done
  net=0 ip=()
  while read -ra f; do
    [[ \${f[0]} == Ip: ]] || continue
    if (( \${#ip[@]} == 0 )); then ip=("\${f[@]}"); continue; fi
    for i in "\${!ip[@]}"; do [[ \${ip[i]} == OutNoRoutes ]] && net=$((net + f[i])); done
  done </proc/net/snmp
  while read -r k v; do [[ $k == Ip6OutNoRoutes ]] && net=$((net + v)); done </proc/net/snmp6
  printf 'net %d\\n' "$net" >&3
fi
printf 'exit %d\\n' "$rc" >&3
times >&3
if (( \${#collect[@]} && ! stop )); then
  echo data >&3
  cd "$work" && /bin/tar --no-recursion -cf - -- "\${collect[@]}" 2>/dev/null >&3
fi
exit "$rc"
`;
