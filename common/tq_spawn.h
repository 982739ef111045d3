/* tq_spawn.h - starting and stopping child processes by pid.
 *
 * Children are started with fork/exec in their own process group (so a stop
 * reaches their own children, e.g. Celery's pool) and, when asked, with
 * PR_SET_PDEATHSIG so they die with the parent. exec failures are reported
 * to the parent through a close-on-exec pipe, so "no such file" is an error
 * of tq_spawn() itself, not a child that silently exits 127. Nothing is ever
 * killed by name. */
#ifndef TQ_SPAWN_H
#define TQ_SPAWN_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE, defined by CMake) */
#include <stddef.h>
#include <sys/types.h>

struct tq_spawn_opts {
    const char *const *env_extra;  /* "NAME=value" entries added to the environment, NULL-terminated; may be NULL */
    const char *stdout_path;       /* redirect stdout (appended) when not NULL */
    const char *stderr_path;       /* redirect stderr (appended) when not NULL */
    int new_process_group;         /* setpgid(0, 0) in the child */
    int die_with_parent;           /* PR_SET_PDEATHSIG SIGKILL */
    const cpu_set_t *cpus;         /* sched_setaffinity before exec when not NULL
                                      (children of the child inherit it) */
};

/* Starts argv[0] (searched in PATH when it has no '/'; opts may be NULL).
 * The child starts with every signal at its default disposition and none
 * blocked (whatever the parent set), and inherits no descriptor above stderr.
 * Returns 0 with *pid once the exec succeeded, or -1 with err naming the
 * program, the step and the reason ("spawn tqworker: exec: No such file or
 * directory"); a failed child is reaped before returning. */
int tq_spawn(const char *const argv[], const struct tq_spawn_opts *opts, pid_t *pid, char *err,
             size_t errlen);
/* Non-blocking: 1 when pid has exited (reaped; *status set), 0 while it runs,
 * -1 on error (not our child). */
int tq_spawn_poll(pid_t pid, int *status);
/* Waits up to timeout_ms for pid to exit and reaps it. 1 exited, 0 timed out,
 * -1 when pid is not our child. */
int tq_spawn_wait(pid_t pid, int timeout_ms, int *status);
/* Graceful stop: SIGTERM (to the process group when pid leads one), wait up to
 * grace_ms, then SIGKILL and reap. When pid leads a group, whatever is left of
 * the group after pid is gone (a grandchild ignoring SIGTERM) gets SIGKILL.
 * Returns 1 when it exited within the grace, 0 when it had to be killed, -1
 * when pid was not our child (nothing is signalled then). */
int tq_spawn_stop(pid_t pid, int grace_ms, int *status);
/* Human text for a wait status: "exited 1", "killed by SIGKILL". */
void tq_spawn_status_str(int status, char *buf, size_t len);

#endif
