/** The contract of lib/sandbox. Lecturer generators and student code run only through it. */
export type SandboxStatus = 'ok' | 'timeout' | 'memory' | 'output_limit' | 'crashed' | 'error';

export interface SandboxLimits {
  /** Wall-clock time, enforced by a timer in Node that kills the whole sandbox. */
  wallMs: number;
  /** CPU seconds (RLIMIT_CPU and cgroup cpu when delegated). */
  cpuSeconds: number;
  /** Memory (cgroup memory.max when delegated, else RLIMIT_DATA per process: reserved address space is not counted). */
  memoryBytes: number;
  /** Processes/threads (RLIMIT_NPROC inside the user namespace, cgroup pids.max). */
  processes: number;
  /** Largest file a program may write (RLIMIT_FSIZE). */
  fileSizeBytes: number;
  openFiles: number;
  /** stdout + stderr bytes, counted in Node; the sandbox is killed at the cap. */
  outputBytes: number;
  /** Size of the tmpfs work dir. */
  workDirBytes: number;
}

export interface SandboxInput {
  /** Host path of a file or folder, bound read-only and copied into the work dir. */
  from: string;
  /** Relative path under the work dir ("." for the top). */
  to: string;
}

export interface SandboxRequest {
  /** argv; runs with the work dir (/work) as the current directory. */
  command: string[];
  inputs?: SandboxInput[];
  /** Extra files written into the work dir before the command starts. */
  files?: Record<string, string | Buffer>;
  /** Names among `files` written executable (a compiled program handed from one run to the next). */
  executable?: string[];
  stdin?: string | Buffer;
  /** The whole environment of the command (apart from PATH, HOME, LANG which are set). */
  env?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  /** Relative paths in the work dir to read back after the run (each capped by `collectBytes`). */
  collect?: string[];
  collectBytes?: number;
  /** Where the writable work dir is mounted and the command starts (default /work). */
  workDir?: string;
  /**
   * A host folder used read-only as the whole root filesystem (an assignment's environment)
   * instead of the host's /usr. Lectern's /etc files, /proc, /dev, /tmp and the work dir are
   * still mounted over it.
   */
  root?: string;
  /**
   * Host paths mounted read-only at absolute paths inside the sandbox, outside the work dir
   * (e.g. the grading harness's run_student socket and helpers). Never for student code's
   * sandboxes: a bind is shared, the work dir copy is not.
   */
  binds?: Array<{ from: string; to: string }>;
  /**
   * System files (absolute paths under /usr) that read as empty in this sandbox: a library the
   * grading forbids (a Python module and its cached bytecode) made unusable where student code
   * cannot undo it. Missing ones are ignored. Not honoured in unsafe mode (there is no sandbox).
   */
  hide?: string[];
  /** Aborts the run (killing the sandbox); the result then has status "error". */
  signal?: AbortSignal;
  /**
   * Count the command's attempts to write to read-only mounts (the write observer, observer.ts):
   * for student code. Where the host cannot observe them the run goes on unobserved
   * (`readOnlyWritesUnobserved` says why). Not in unsafe mode.
   */
  observeWrites?: boolean;
}

/** What the write observer saw of a run's writes to read-only mounts. */
export interface ReadOnlyWrites {
  /** Write-intent calls aimed at a read-only mount (/usr, /etc, the root, a read-only input): all refused with EROFS. */
  count: number;
  /** Write-intent calls whose path could not be read (the process made itself non-dumpable, or passed a bad pointer). */
  unreadable: number;
  /** A few of the paths, as the program gave them. */
  examples: string[];
}

export interface SandboxResult {
  status: SandboxStatus;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  wallMs: number;
  cpuMs: number;
  /** The collected files that existed (missing ones are absent). */
  files: Record<string, Buffer>;
  /** Why the status is what it is, for the lecturer (never shown raw to students). */
  message?: string;
  /**
   * Processes still running in the sandbox when the command ended (killed then): a detached
   * child. Counted by the sandbox's pid 1; null when not known (unsafe mode, a killed run).
   */
  leftProcesses?: number | null;
  /**
   * Attempts to reach an address outside the sandbox (connections, datagrams, name lookups),
   * all refused since the sandbox has no network: the kernel's OutNoRoutes counters of the
   * sandbox's own network namespace. Null when not known (unsafe mode, a killed run).
   */
  networkAttempts?: number | null;
  /**
   * Writes to read-only mounts, when the request asked for them to be observed and the host could
   * (null otherwise). For a run the server killed, what was seen until then.
   */
  readOnlyWrites?: ReadOnlyWrites | null;
  /** Why the writes were asked for but not observed (no compiler, the kernel refused, unsafe mode). */
  readOnlyWritesUnobserved?: string;
  /**
   * The observer ended before it could report while the command ran on: something inside the
   * sandbox killed it (the command runs as the same user and can), or the out-of-memory killer.
   */
  observerStopped?: boolean;
}

export interface Sandbox {
  run(request: SandboxRequest): Promise<SandboxResult>;
  /** True when code runs without isolation (operator opted in, no bubblewrap). */
  readonly unsafe: boolean;
  /** One line for logs and the lecturer's dashboard. */
  describe(): string;
  /**
   * Why writes to read-only mounts cannot be observed in this sandbox, once known (after the
   * first run that asked for them), else null.
   */
  writesUnobservable?(): string | null;
}
