/* tq_spawn.c - fork/exec of child processes and their stop by pid (see
 * tq_spawn.h).
 *
 * The child reports any failure before exec (redirection, exec itself) as
 * {stage, errno} through a close-on-exec pipe: the parent reads EOF when exec
 * succeeded, and the record otherwise, so "no such file" becomes an error of
 * tq_spawn() naming the program. The environment is built in the parent, so
 * the child between fork and exec only makes async-signal-safe calls (the
 * parent may run threads, libuv's pool say). */
#include "tq_spawn.h" /* execvpe, pipe2, sigabbrev_np, close_range: _GNU_SOURCE (CMake) */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tq_clock.h"

extern char **environ;

enum spawn_stage {
    STAGE_STDOUT = 1,
    STAGE_STDERR,
    STAGE_SETPGID,
    STAGE_PDEATHSIG,
    STAGE_AFFINITY,
    STAGE_EXEC
};

struct spawn_failure {
    int stage;
    int err;
};

static const char *stage_name(int stage) {
    switch (stage) {
    case STAGE_STDOUT: return "redirect stdout";
    case STAGE_STDERR: return "redirect stderr";
    case STAGE_SETPGID: return "setpgid";
    case STAGE_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)";
    case STAGE_AFFINITY: return "sched_setaffinity";
    case STAGE_EXEC: return "exec";
    default: return "start";
    }
}

/* environ with env_extra added (an entry of env_extra replaces the variable
 * of the same name). Returns a malloc'd array of borrowed strings, or NULL. */
static char **env_build(const char *const *extra) {
    size_t ne = 0, nx = 0;
    while (environ && environ[ne]) ne++;
    while (extra && extra[nx]) nx++;
    char **env = malloc((ne + nx + 1) * sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < nx && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], name_len) == 0 && extra[j][name_len] == '=';
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++) env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

static int open_append(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* Runs in the child: only async-signal-safe calls until exec. */
static void child_run(const char *const argv[], const struct tq_spawn_opts *o, char **env,
                      pid_t parent, int report_fd) {
    struct spawn_failure f = {0, 0};
    /* The parent may block or ignore signals (a driver catching SIGINT, say);
     * a worker must start with the default dispositions and an empty mask,
     * or a SIGTERM sent to stop it could be ignored. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    /* Descriptors the parent did not mark close-on-exec (hiredis sockets,
     * say) must not live on in the child: a worker holding the driver's Redis
     * connection keeps it open after the driver closed it. Best effort: old
     * kernels lack the flag, and then nothing changes. */
    close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);

    if (o->new_process_group && setpgid(0, 0) != 0) {
        f = (struct spawn_failure){STAGE_SETPGID, errno};
        goto fail;
    }
    if (o->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
            f = (struct spawn_failure){STAGE_PDEATHSIG, errno};
            goto fail;
        }
        /* The parent may have died before prctl() took effect. */
        if (getppid() != parent) _exit(1);
    }
    if (o->cpus && sched_setaffinity(0, sizeof *o->cpus, o->cpus) != 0) {
        f = (struct spawn_failure){STAGE_AFFINITY, errno};
        goto fail;
    }
    if (o->stdout_path) {
        int fd = open_append(o->stdout_path);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
            f = (struct spawn_failure){STAGE_STDOUT, errno};
            goto fail;
        }
        close(fd);
    }
    if (o->stderr_path) {
        int fd = open_append(o->stderr_path);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
            f = (struct spawn_failure){STAGE_STDERR, errno};
            goto fail;
        }
        close(fd);
    }
    execvpe(argv[0], (char *const *)argv, env);
    f = (struct spawn_failure){STAGE_EXEC, errno};
fail:
    while (write(report_fd, &f, sizeof f) < 0 && errno == EINTR) {
    }
    _exit(127);
}

int tq_spawn(const char *const argv[], const struct tq_spawn_opts *opts, pid_t *pid, char *err,
             size_t errlen) {
    static const struct tq_spawn_opts defaults;
    const struct tq_spawn_opts *o = opts ? opts : &defaults;
    const char *prog = argv && argv[0] ? argv[0] : "(null)";
    if (!argv || !argv[0] || !argv[0][0]) {
        snprintf(err, errlen, "spawn: empty program name");
        return -1;
    }
    char **env = env_build(o->env_extra);
    if (!env) {
        snprintf(err, errlen, "spawn %s: out of memory", prog);
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "spawn %s: pipe: %s", prog, strerror(errno));
        free(env);
        return -1;
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, errlen, "spawn %s: fork: %s", prog, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        free(env);
        return -1;
    }
    if (child == 0) {
        close(fds[0]);
        child_run(argv, o, env, parent, fds[1]);
    }
    close(fds[1]);
    free(env);
    struct spawn_failure f;
    ssize_t n;
    do {
        n = read(fds[0], &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof f) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        const char *path = f.stage == STAGE_STDOUT   ? o->stdout_path
                           : f.stage == STAGE_STDERR ? o->stderr_path
                                                     : NULL;
        if (path)
            snprintf(err, errlen, "spawn %s: %s to %s: %s", prog, stage_name(f.stage), path,
                     strerror(f.err));
        else
            snprintf(err, errlen, "spawn %s: %s: %s", prog, stage_name(f.stage), strerror(f.err));
        return -1;
    }
    /* EOF: exec succeeded. (A short read cannot happen for a record this
     * small written with one write(); treat it as success all the same, as
     * the child then exists and will be reaped by the caller.) */
    *pid = child;
    return 0;
}

int tq_spawn_poll(pid_t pid, int *status) {
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r != pid) return -1;
    if (status) *status = st;
    return 1;
}

int tq_spawn_wait(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = tq_clock_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    int64_t nap_ns = 1000000; /* 1 ms, doubling to 20 ms: quick for fast exits */
    for (;;) {
        int rc = tq_spawn_poll(pid, status);
        if (rc != 0) return rc;
        int64_t now = tq_clock_mono_ns();
        if (now >= deadline) return 0;
        int64_t until = now + nap_ns;
        tq_clock_sleep_until_ns(until < deadline ? until : deadline);
        if (nap_ns < 20000000) nap_ns *= 2;
    }
}

int tq_spawn_stop(pid_t pid, int grace_ms, int *status) {
    int st = 0;
    if (pid <= 0) return -1;
    /* Decided before anything is reaped: getpgid() fails once it is. */
    int group = getpgid(pid) == pid;
    int rc = tq_spawn_poll(pid, &st);
    if (rc < 0) return -1;
    int graceful = 1;
    if (rc == 0) {
        kill(group ? -pid : pid, SIGTERM);
        kill(group ? -pid : pid, SIGCONT); /* a stopped process acts on SIGTERM once resumed */
        rc = tq_spawn_wait(pid, grace_ms, &st);
        if (rc < 0) return -1;
        if (rc == 0) {
            graceful = 0;
            kill(group ? -pid : pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
        }
    }
    /* Members of its group that outlived the leader (a pool child ignoring
     * SIGTERM, say) go too: the group id cannot be reused while any of them
     * exists, so this reaches only them. */
    if (group) kill(-pid, SIGKILL);
    if (status) *status = st;
    return graceful;
}

void tq_spawn_status_str(int status, char *buf, size_t len) {
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exited %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig);
        char num[16];
        snprintf(num, sizeof num, "%d", sig);
        snprintf(buf, len, "killed by %s%s%s", name ? "SIG" : "signal ", name ? name : num,
                 WCOREDUMP(status) ? " (core dumped)" : "");
    } else if (WIFSTOPPED(status)) {
        const char *name = sigabbrev_np(WSTOPSIG(status));
        snprintf(buf, len, "stopped by SIG%s", name ? name : "?");
    } else {
        snprintf(buf, len, "status 0x%x", (unsigned)status);
    }
}
