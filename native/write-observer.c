/*
 * Lectern's write observer: counts a sandboxed command's attempts to write to read-only mounts
 * (/usr, /etc, the sandbox's root, read-only inputs), which the kernel refuses with EROFS before
 * anything else could record them.
 *
 *   write-observer REPORT_FD -- argv...   run argv observed, report on REPORT_FD at the end
 *   write-observer --probe                check that this kernel lets us observe (prints "ok")
 *
 * Compiled on demand by the server (src/lib/sandbox/observer.ts) with the host's cc, statically,
 * so that it also runs in an assignment's own root; bound read-only into the sandbox and started
 * by the wrapper (src/lib/sandbox/wrapper.ts) just before the command.
 *
 * How: it forks. The child installs a seccomp filter that hands the write-intent path syscalls
 * (open/openat/creat with a writing flag, openat2, mkdir, mknod, unlink, rmdir, rename, link,
 * symlink, chmod, chown, truncate, utimes, setxattr...) to a user-notification listener and
 * allows everything else, passes the listener to the parent over a socketpair (SCM_RIGHTS) and
 * execs argv. The parent reads each notification's path from the child's memory, decides whether
 * it lies on a read-only mount, counts it, and answers SECCOMP_USER_NOTIF_FLAG_CONTINUE: the
 * kernel then performs the call exactly as without the observer (EROFS, or success elsewhere).
 * The observer only observes: since the kernel redoes the lookup itself after CONTINUE, a path
 * changed between our read and the call (TOCTOU) can at worst make one count wrong, never let a
 * write through that the mounts forbid.
 *
 * Transparent to the command: stdin/stdout/stderr untouched, the report fd closed in the child,
 * the exit status returned as ours and a death signal re-raised on ourselves (so the shell sees
 * 128+N), the rlimits inherited (we fork after the wrapper set them), the child's CPU time
 * reaches the wrapper's `times` through our wait. The observer makes itself non-dumpable so
 * that the command (same uid) cannot ptrace it or read/write its memory; it can still kill it,
 * which the server sees as a missing report.
 *
 * Report lines on REPORT_FD (the last "ro" line counts):
 *   ro COUNT UNREADABLE        COUNT writes aimed at read-only mounts, UNREADABLE write-intent
 *                              calls whose path could not be read (the process made itself
 *                              non-dumpable, or passed a bad pointer); written as the total
 *                              reaches 1, 2, 4, 8... and once more at the end
 *   ro-path PATH               up to MAX_EXAMPLES example paths (control characters as '?')
 *   ro-end                     the command ended and the counts above are final
 *   ro-off REASON              no observer (the kernel refused the filter, no room to fork):
 *                              the command ran unobserved
 * Only x86_64 system calls are observed (other ABIs are allowed through unseen).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#define NR_setxattrat 463
#define NR_removexattrat 466
#define X32_SYSCALL_BIT 0x40000000u
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)
#define MAX_EXAMPLES 5

static unsigned long long ro_count, unreadable;
static int report_fd = -1;
static char examples[MAX_EXAMPLES][PATH_MAX];
static int n_examples;

/* ---- the filter (child side) ---- */

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

static const int always_notify[] = {
    SYS_creat, SYS_openat2, SYS_mkdir, SYS_mkdirat, SYS_mknod, SYS_mknodat, SYS_unlink, SYS_unlinkat,
    SYS_rmdir, SYS_rename, SYS_renameat, SYS_renameat2, SYS_link, SYS_linkat, SYS_symlink, SYS_symlinkat,
    SYS_chmod, SYS_fchmodat, SYS_fchmodat2, SYS_chown, SYS_lchown, SYS_fchownat, SYS_truncate, SYS_utime,
    SYS_utimes, SYS_utimensat, SYS_futimesat, SYS_setxattr, SYS_lsetxattr, SYS_removexattr,
    SYS_lremovexattr, NR_setxattrat, NR_removexattrat,
};

/* Installs the filter and returns its listener fd, or -1 with errno set. */
static int install_filter(void) {
    struct sock_filter f[96];
    int n = 0, to_notify[64], nn = 0, to_allow[8], na = 0;
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    to_allow[na++] = n;
    f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 0); /* jf: allow */
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    /* x32 calls carry the same numbers for these, with bit 30 set. */
    f[n++] = STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT);
    for (size_t i = 0; i < sizeof always_notify / sizeof always_notify[0]; i++) {
        to_notify[nn++] = n;
        f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)always_notify[i], 0, 0); /* jt: notify */
    }
    int open_jump = n;
    f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, 0, 0);
    int openat_jump = n;
    f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 0);
    to_allow[na++] = openat_jump; /* jf: allow */
    int check_a1 = n;
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1));
    to_notify[nn++] = n;
    to_allow[na++] = n;
    f[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, WRITE_FLAGS, 0, 0);
    int check_a2 = n;
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
    to_notify[nn++] = n;
    to_allow[na++] = n;
    f[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, WRITE_FLAGS, 0, 0);
    int notify = n;
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    int allow = n;
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

    for (int i = 0; i < nn; i++) f[to_notify[i]].jt = (unsigned char)(notify - to_notify[i] - 1);
    for (int i = 0; i < na; i++) f[to_allow[i]].jf = (unsigned char)(allow - to_allow[i] - 1);
    f[open_jump].jt = (unsigned char)(check_a1 - open_jump - 1);
    f[openat_jump].jt = (unsigned char)(check_a2 - openat_jump - 1);

    struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
    /* Without CAP_SYS_ADMIN a filter needs no_new_privs; it only keeps set-uid programs from
       gaining privileges, which a sandbox without any never offers anyway. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* ---- passing the listener (child -> parent) ---- */

/* Sends `fd` (or, when fd < 0, the errno in `err`) over `sock`. */
static void send_listener(int sock, int fd, int err) {
    char byte = fd >= 0 ? 'L' : 'E';
    int payload = fd >= 0 ? 0 : err;
    struct iovec iov[2] = {{&byte, 1}, {&payload, sizeof payload}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* The listener fd, or -1 with *err set (the child's errno, or ours). */
static int receive_listener(int sock, int *err) {
    char byte = 0;
    int payload = 0;
    struct iovec iov[2] = {{&byte, 1}, {&payload, sizeof payload}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t got;
    while ((got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (got <= 0) {
        *err = got < 0 ? errno : EPIPE;
        return -1;
    }
    if (byte != 'L') {
        *err = payload;
        return -1;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) {
        *err = EPROTO;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* ---- judging one notification (parent side) ---- */

/* Reads a NUL-terminated string at `addr` in `pid`, page by page (a read across into an unmapped
   page would fail as a whole). 1: read; 0: could not (non-dumpable, bad pointer, too long). */
static int read_string(pid_t pid, uint64_t addr, char *out, size_t cap) {
    size_t have = 0;
    while (have < cap - 1) {
        uint64_t at = addr + have;
        size_t chunk = 4096 - (size_t)(at & 4095);
        if (chunk > cap - 1 - have) chunk = cap - 1 - have;
        struct iovec local = {out + have, chunk}, remote = {(void *)(uintptr_t)at, chunk};
        ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (got <= 0) return 0;
        void *nul = memchr(out + have, '\0', (size_t)got);
        if (nul) return 1;
        have += (size_t)got;
    }
    return 0;
}

static int read_bytes(pid_t pid, uint64_t addr, void *out, size_t len) {
    struct iovec local = {out, len}, remote = {(void *)(uintptr_t)addr, len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

/* The path as the observer can reach it: absolute ones as they are (the observer shares the
   command's mount namespace and root), relative ones through /proc/PID/cwd or /proc/PID/fd/N,
   which resolve as the command's own. 0 when the base is not reachable. */
static int full_path(pid_t pid, int dirfd, const char *p, char *out, size_t cap) {
    int n;
    if (p[0] == '/') n = snprintf(out, cap, "%s", p);
    else if (dirfd == AT_FDCWD) n = snprintf(out, cap, "/proc/%d/cwd%s%s", (int)pid, p[0] ? "/" : "", p);
    else n = snprintf(out, cap, "/proc/%d/fd/%d%s%s", (int)pid, dirfd, p[0] ? "/" : "", p);
    return n > 0 && (size_t)n < cap;
}

/* Whether the mount holding `p` is read-only. */
static int readonly_at(const char *p) {
    struct statvfs vfs;
    return statvfs(p, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
}

/* Whether the nearest existing parent of `p` (the directory a create or removal writes) is on a
   read-only mount. Modifies p. */
static int readonly_parent(char *p) {
    for (;;) {
        char *slash = strrchr(p, '/');
        while (slash && slash > p && slash[1] == '\0') { /* trailing slashes */
            *slash = '\0';
            slash = strrchr(p, '/');
        }
        if (!slash) return 0;
        if (slash == p) slash[1] = '\0';
        else *slash = '\0';
        struct statvfs vfs;
        if (statvfs(p, &vfs) == 0) return (vfs.f_flag & ST_RDONLY) != 0;
        if (errno != ENOENT && errno != ENOTDIR) return 0;
        if (p[0] == '/' && p[1] == '\0') return 0;
    }
}

/* How a call writes its path, and so when the kernel answers EROFS rather than something else
   (the order of its checks decides: an existing name fails a create with EEXIST first). */
enum kind {
    OPEN,   /* open/openat/creat/openat2, with `flags` */
    CREATE, /* mkdir, mknod, symlink, link: a new name in the parent (EEXIST if it exists) */
    REMOVE, /* unlink, rmdir, rename (both names): the parent is written, existing or not */
    ATTR,   /* chmod, chown, truncate, utime(s), xattrs: the file itself (ENOENT if missing) */
};

static int would_be_erofs(char *p, enum kind kind, uint64_t flags) {
    struct stat st;
    switch (kind) {
    case OPEN:
        if (stat(p, &st) == 0) {
            /* A device, fifo or socket is written without touching its mount (">/dev/null" works
               on a read-only /dev); O_EXCL fails with EEXIST; O_CREAT alone opens it read-only. */
            if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return 0;
            if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return 0;
            if (!(flags & (O_WRONLY | O_RDWR | O_TRUNC))) return 0;
            return readonly_at(p);
        }
        return (flags & O_CREAT) && readonly_parent(p);
    case CREATE:
        if (lstat(p, &st) == 0) return 0;
        return readonly_parent(p);
    case REMOVE:
        return readonly_parent(p);
    case ATTR:
        return stat(p, &st) == 0 && readonly_at(p);
    }
    return 0;
}

/* Python writes __pycache__ beside modules whose cached bytecode is missing and silently
   accepts EROFS: an honest program's doing, not an attempt. */
static int benign(const char *p) {
    return strstr(p, "/__pycache__") != NULL || strncmp(p, "__pycache__", 11) == 0;
}

static void note(const char *shown) {
    ro_count++;
    if (n_examples >= MAX_EXAMPLES) return;
    for (int i = 0; i < n_examples; i++)
        if (strcmp(examples[i], shown) == 0) return;
    snprintf(examples[n_examples++], PATH_MAX, "%s", shown);
}

static void write_line(const char *tag, const char *text) {
    char line[PATH_MAX + 32];
    int n = snprintf(line, sizeof line, "%s %s\n", tag, text);
    if (n <= 0) return;
    if (n >= (int)sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (write(report_fd, line, (size_t)n) < 0) return;
}

static void write_counts(void) {
    char text[64];
    snprintf(text, sizeof text, "%llu %llu", ro_count, unreadable);
    write_line("ro", text);
}

/* An example path, shown with control characters as '?' (one line each on the report). */
static void write_example(int i) {
    for (char *c = examples[i]; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    write_line("ro-path", examples[i]);
}

/* One path argument of a call: its dirfd (AT_FDCWD for the old calls), pointer, and how it is
   written. Returns 1 when counted as a write to a read-only mount. */
static int judge(pid_t pid, int dirfd, uint64_t ptr, enum kind kind, uint64_t flags) {
    static char path[PATH_MAX], full[PATH_MAX + 64];
    /* utimensat(fd, NULL, ...) and AT_EMPTY_PATH calls name the fd itself. */
    if (ptr == 0 && kind == ATTR) path[0] = '\0';
    else if (!read_string(pid, ptr, path, sizeof path)) {
        unreadable++;
        return 0;
    }
    if (benign(path)) return 0;
    if (!full_path(pid, dirfd, path, full, sizeof full)) return 0;
    if (!would_be_erofs(full, path[0] == '\0' && kind != OPEN ? ATTR : kind, flags)) return 0;
    note(path[0] ? path : "(a file descriptor)");
    return 1;
}

static void handle(const struct seccomp_notif *req) {
    const struct seccomp_data *d = &req->data;
    pid_t pid = (pid_t)req->pid;
    const __u64 *a = d->args;
    int nr = (int)(d->nr & ~X32_SYSCALL_BIT);
    switch (nr) {
    case SYS_open: judge(pid, AT_FDCWD, a[0], OPEN, a[1]); break;
    case SYS_creat: judge(pid, AT_FDCWD, a[0], OPEN, O_CREAT | O_WRONLY | O_TRUNC); break;
    case SYS_openat: judge(pid, (int)a[0], a[1], OPEN, a[2]); break;
    case SYS_openat2: {
        uint64_t flags = 0;
        /* openat2's flags sit in a struct the filter cannot see: read them here, and count only
           calls that would write. A struct we cannot read is an unreadable call. */
        if (!read_bytes(pid, a[2], &flags, sizeof flags)) unreadable++;
        else if (flags & WRITE_FLAGS) judge(pid, (int)a[0], a[1], OPEN, flags);
        break;
    }
    case SYS_mkdir: case SYS_mknod: judge(pid, AT_FDCWD, a[0], CREATE, 0); break;
    case SYS_mkdirat: case SYS_mknodat: judge(pid, (int)a[0], a[1], CREATE, 0); break;
    case SYS_rmdir: case SYS_unlink: judge(pid, AT_FDCWD, a[0], REMOVE, 0); break;
    case SYS_unlinkat: judge(pid, (int)a[0], a[1], REMOVE, 0); break;
    case SYS_rename:
        if (!judge(pid, AT_FDCWD, a[0], REMOVE, 0)) judge(pid, AT_FDCWD, a[1], REMOVE, 0);
        break;
    case SYS_renameat: case SYS_renameat2:
        if (!judge(pid, (int)a[0], a[1], REMOVE, 0)) judge(pid, (int)a[2], a[3], REMOVE, 0);
        break;
    case SYS_link: case SYS_symlink: judge(pid, AT_FDCWD, a[1], CREATE, 0); break;
    case SYS_linkat: judge(pid, (int)a[2], a[3], CREATE, 0); break;
    case SYS_symlinkat: judge(pid, (int)a[1], a[2], CREATE, 0); break;
    case SYS_chmod: case SYS_chown: case SYS_lchown: case SYS_truncate: case SYS_utime: case SYS_utimes:
    case SYS_setxattr: case SYS_lsetxattr: case SYS_removexattr: case SYS_lremovexattr:
        judge(pid, AT_FDCWD, a[0], ATTR, 0); break;
    case SYS_fchmodat: case SYS_fchmodat2: case SYS_fchownat: case SYS_futimesat: case SYS_utimensat:
    case NR_setxattrat: case NR_removexattrat:
        judge(pid, (int)a[0], a[1], ATTR, 0); break;
    default: break;
    }
}

/* Serves notifications until the child `child` ends; returns its wait status. */
static int serve(int listener, pid_t child) {
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
        sizes.seccomp_notif = sizeof(struct seccomp_notif);
        sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
    }
    size_t req_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif : sizeof(struct seccomp_notif);
    size_t resp_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
    struct seccomp_notif *req = malloc(req_size);
    struct seccomp_notif_resp *resp = malloc(resp_size);
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    int status = 0;
    for (;;) {
        struct pollfd fds[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int ready = poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 50);
        if (ready < 0 && errno != EINTR) break;
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            memset(req, 0, req_size);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
                unsigned long long before_ro = ro_count, before_unreadable = unreadable;
                int before_examples = n_examples;
                handle(req);
                /* The caller died or was interrupted while we read its memory: the pid may be
                   someone else's by now, so what was read is not counted. */
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) {
                    ro_count = before_ro;
                    unreadable = before_unreadable;
                    n_examples = before_examples;
                }
                /* Reported as it grows (at 1, 2, 4, 8...: a flood costs a few lines), so that a
                   run the server kills midway still shows what was seen. */
                for (int i = before_examples; i < n_examples; i++) write_example(i);
                unsigned long long total = ro_count + unreadable;
                if (total != before_ro + before_unreadable && (total & (total - 1)) == 0) write_counts();
                memset(resp, 0, resp_size);
                resp->id = req->id;
                resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
            }
            continue;
        }
        /* No task uses the filter any more (the child is exiting): no notification can come, and
           polling on would spin at our priority while the child (niced) finishes its exit. */
        if (ready > 0 && (fds[0].revents & (POLLHUP | POLLERR))) break;
        /* Only the command we started decides when we stop: what it left behind is counted
           and killed by the wrapper, which then finds us gone. */
        pid_t got = waitpid(child, &status, WNOHANG);
        if (got == child) return status;
        if (got < 0 && errno != EINTR) break;
    }
    /* The filter has no task left, or poll failed (the child's filtered calls would then fail
       with ENOSYS): end as the child ends. */
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

/* The final report: the counts, then the end mark (its absence tells the server that something
   killed us before the command ended). */
static void report(void) {
    write_counts();
    if (write(report_fd, "ro-end\n", 7) < 0) return;
}

/* Ends this process the way the child ended: same exit code, or same signal. */
static void pass_on(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static int probe(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return perror("socketpair"), 1;
    pid_t child = fork();
    if (child < 0) return perror("fork"), 1;
    if (child == 0) {
        close(sv[0]);
        int fd = install_filter();
        send_listener(sv[1], fd, errno);
        if (fd < 0) _exit(2);
        close(fd);
        /* One observed call: a create of a path that cannot exist. */
        int r = mkdir("/proc/lectern-write-observer-probe/x", 0700);
        _exit(r == -1 ? 0 : 3);
    }
    close(sv[1]);
    int err = 0;
    int listener = receive_listener(sv[0], &err);
    if (listener < 0) {
        fprintf(stderr, "the kernel refused the seccomp listener: %s\n", strerror(err));
        waitpid(child, NULL, 0);
        return 1;
    }
    int status = serve(listener, child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the probe's child ended with status %d\n", status);
        return 1;
    }
    puts("ok");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--probe") == 0) return probe();
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: write-observer REPORT_FD -- argv... | --probe\n");
        return 125;
    }
    report_fd = atoi(argv[1]);
    char **cmd = argv + 3;
    int sv[2];
    pid_t child = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) child = fork();
    if (child < 0) {
        /* No room for one more process (the process limit): run the command unobserved. */
        dprintf(report_fd, "ro-off could not start the observer: %s\n", strerror(errno));
        close(report_fd);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    if (child == 0) {
        close(sv[0]);
        close(report_fd);
        int fd = install_filter();
        send_listener(sv[1], fd, errno);
        close(sv[1]);
        if (fd >= 0) close(fd);
        execvp(cmd[0], cmd);
        /* The shell's own message and code for a command that cannot run. */
        int e = errno;
        fprintf(stderr, "%s: %s\n", cmd[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    close(sv[1]);
    /* The command runs as the same user: it must not be able to ptrace us or rewrite our memory. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* A report the server no longer reads (it killed the run) must not end us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    int err = 0;
    int listener = receive_listener(sv[0], &err);
    close(sv[0]);
    int status = 0;
    if (listener < 0) {
        dprintf(report_fd, "ro-off the kernel refused the seccomp listener: %s\n", strerror(err));
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
    } else {
        status = serve(listener, child);
        close(listener);
        report();
    }
    close(report_fd);
    pass_on(status);
    return 1;
}
