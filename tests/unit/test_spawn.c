/* test_spawn.c - fork/exec and stop by pid: exec errors reported by
 * tq_spawn() itself, exit statuses, redirections, the environment, graceful
 * and forced stops, process groups reaching grandchildren, and
 * PR_SET_PDEATHSIG. Every process started here is reaped by pid. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tq_clock.h"
#include "tq_spawn.h"
#include "tq_testutil.h"

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tq-unit-spawn-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void read_file(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

static pid_t start(const char *const argv[], const struct tq_spawn_opts *o) {
    char err[512];
    pid_t pid = -1;
    cr_assert_eq(tq_spawn(argv, o, &pid, err, sizeof err), 0, "%s", err);
    cr_assert_gt(pid, 0);
    return pid;
}

Test(spawn, exec_failure_is_an_error_naming_the_program, .init = make_tmpdir,
     .fini = remove_tmpdir) {
    const char *argv[] = {"/nonexistent/tq-prog", "x", NULL};
    char err[512];
    pid_t pid = 0;
    cr_assert_eq(tq_spawn(argv, NULL, &pid, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "/nonexistent/tq-prog"), "%s", err);
    cr_assert_not_null(strstr(err, "No such file"), "%s", err);
    const char *argv2[] = {"tq-no-such-program-in-path", NULL};
    cr_assert_eq(tq_spawn(argv2, NULL, &pid, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "tq-no-such-program-in-path"), "%s", err);
    char plain[128];
    snprintf(plain, sizeof plain, "%s/not-executable", tmpdir);
    FILE *f = fopen(plain, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(chmod(plain, 0644), 0);
    const char *argv3[] = {plain, NULL};
    cr_assert_eq(tq_spawn(argv3, NULL, &pid, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, plain), "%s", err);
    cr_assert_not_null(strstr(err, "Permission denied"), "%s", err);
    /* The failed children were reaped: none is left to wait for. */
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
    const char *empty[] = {NULL};
    cr_assert_eq(tq_spawn(empty, NULL, &pid, err, sizeof err), -1);
}

Test(spawn, exit_status_is_reported) {
    const char *argv[] = {"sh", "-c", "exit 3", NULL};
    pid_t pid = start(argv, NULL);
    int st = 0;
    cr_assert_eq(tq_spawn_wait(pid, 5000, &st), 1);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 3);
    char buf[64];
    tq_spawn_status_str(st, buf, sizeof buf);
    cr_assert_str_eq(buf, "exited 3");
    /* Reaped: not our child any more. */
    cr_assert_eq(tq_spawn_poll(pid, &st), -1);
    cr_assert_eq(tq_spawn_stop(pid, 100, &st), -1);
}

Test(spawn, poll_and_wait) {
    const char *argv[] = {"sleep", "0.3", NULL};
    pid_t pid = start(argv, NULL);
    int st = -1;
    cr_assert_eq(tq_spawn_poll(pid, &st), 0);
    cr_assert_eq(tq_spawn_wait(pid, 50, &st), 0);
    int64_t t0 = tq_clock_mono_us();
    cr_assert_eq(tq_spawn_wait(pid, 5000, &st), 1);
    cr_assert_lt(tq_clock_mono_us() - t0, 2000000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Not our child (pid 1): an error, and nothing is signalled. */
    cr_assert_eq(tq_spawn_poll(1, &st), -1);
    cr_assert_eq(tq_spawn_stop(1, 10, &st), -1);
}

Test(spawn, graceful_stop, .init = make_tmpdir, .fini = remove_tmpdir) {
    const char *argv[] = {"sh", "-c", "exec sleep 30", NULL};
    pid_t pid = start(argv, NULL);
    int st;
    int64_t t0 = tq_clock_mono_us();
    cr_assert_eq(tq_spawn_stop(pid, 5000, &st), 1);
    cr_assert_lt(tq_clock_mono_us() - t0, 2000000);
    char buf[64];
    tq_spawn_status_str(st, buf, sizeof buf);
    cr_assert_str_eq(buf, "killed by SIGTERM");
}

static pid_t read_pid_file(const char *path) {
    char buf[32] = "";
    int64_t deadline = tq_test_now_ms() + 5000;
    while (tq_test_now_ms() < deadline) {
        read_file(path, buf, sizeof buf);
        if (strchr(buf, '\n')) return (pid_t)atoi(buf);
        tq_test_sleep_ms(10);
    }
    return -1;
}

static void stop_falls_back_to_sigkill(int group) {
    /* The shell ignores SIGTERM and so does sleep, which inherits SIG_IGN;
     * the shell writes its pid once the trap is set (a fixed sleep could
     * come too soon on a loaded machine). */
    char ready[128], script[256];
    snprintf(ready, sizeof ready, "%s/trap-set.pid", tmpdir);
    snprintf(script, sizeof script, "trap '' TERM; echo $$ > '%s'; %ssleep 30", ready,
             group ? "" : "exec ");
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct tq_spawn_opts o = {.new_process_group = group};
    pid_t pid = start(argv, &o);
    int st;
    if (read_pid_file(ready) != pid) {
        tq_spawn_stop(pid, 0, &st); /* reaped before the test fails */
        cr_assert_fail("the shell did not say its trap is set");
    }
    int64_t t0 = tq_clock_mono_us();
    cr_assert_eq(tq_spawn_stop(pid, 300, &st), 0, "exited within the grace despite the trap");
    int64_t took = tq_clock_mono_us() - t0;
    cr_assert_geq(took, 300000);
    cr_assert_lt(took, 1500000, "stop took %lld us", (long long)took);
    char buf[64];
    tq_spawn_status_str(st, buf, sizeof buf);
    cr_assert_str_eq(buf, "killed by SIGKILL");
    cr_assert_eq(tq_test_pid_alive(pid), 0);
}

Test(spawn, stop_falls_back_to_sigkill, .init = make_tmpdir, .fini = remove_tmpdir) {
    stop_falls_back_to_sigkill(0);
}

Test(spawn, stop_falls_back_to_sigkill_in_group, .init = make_tmpdir, .fini = remove_tmpdir) {
    stop_falls_back_to_sigkill(1);
}

static void group_stop_reaches_grandchild(int ignore_term) {
    char pidfile[128], script[256];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", tmpdir);
    /* With ignore_term the grandchild ignores SIGTERM and outlives the
     * shell: the SIGKILL to the group after the leader exits must reach it. */
    snprintf(script, sizeof script, "%s & echo $! > '%s'; wait",
             ignore_term ? "sh -c \"trap '' TERM; exec sleep 30\"" : "sleep 30", pidfile);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct tq_spawn_opts o = {.new_process_group = 1};
    pid_t pid = start(argv, &o);
    pid_t grandchild = read_pid_file(pidfile);
    cr_assert_gt(grandchild, 0);
    tq_test_sleep_ms(100);
    cr_assert(tq_test_pid_alive(grandchild));
    int st;
    cr_assert_geq(tq_spawn_stop(pid, 2000, &st), 0);
    int64_t deadline = tq_test_now_ms() + 2000;
    while (tq_test_pid_alive(grandchild) && tq_test_now_ms() < deadline) tq_test_sleep_ms(10);
    cr_assert_eq(tq_test_pid_alive(grandchild), 0, "grandchild %d survived the stop",
                 (int)grandchild);
}

Test(spawn, group_stop_reaches_grandchild, .init = make_tmpdir, .fini = remove_tmpdir) {
    group_stop_reaches_grandchild(0);
}

Test(spawn, group_stop_kills_grandchild_ignoring_term, .init = make_tmpdir,
     .fini = remove_tmpdir) {
    group_stop_reaches_grandchild(1);
}

Test(spawn, redirections_append, .init = make_tmpdir, .fini = remove_tmpdir) {
    char out[128], errp[128], buf[256];
    snprintf(out, sizeof out, "%s/out.log", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.log", tmpdir);
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    struct tq_spawn_opts o = {.stdout_path = out, .stderr_path = errp};
    for (int i = 0; i < 2; i++) {
        pid_t pid = start(argv, &o);
        int st;
        cr_assert_eq(tq_spawn_wait(pid, 5000, &st), 1);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    read_file(out, buf, sizeof buf);
    cr_assert_str_eq(buf, "out\nout\n");
    read_file(errp, buf, sizeof buf);
    cr_assert_str_eq(buf, "err\nerr\n");

    char bad[128], err[512];
    snprintf(bad, sizeof bad, "%s/no-such-dir/out.log", tmpdir);
    struct tq_spawn_opts o2 = {.stdout_path = bad};
    pid_t pid;
    cr_assert_eq(tq_spawn(argv, &o2, &pid, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "redirect stdout"), "%s", err);
    cr_assert_not_null(strstr(err, bad), "%s", err);
    cr_assert_not_null(strstr(err, "sh"), "%s", err);
}

Test(spawn, env_extra, .init = make_tmpdir, .fini = remove_tmpdir) {
    char out[128], buf[256];
    snprintf(out, sizeof out, "%s/env.log", tmpdir);
    setenv("TQ_SPAWN_OVERRIDE", "old", 1);
    setenv("TQ_SPAWN_KEPT", "kept", 1);
    const char *env[] = {"TQ_SPAWN_NEW=hello", "TQ_SPAWN_OVERRIDE=new", NULL};
    const char *argv[] = {"sh", "-c", "echo \"$TQ_SPAWN_NEW $TQ_SPAWN_OVERRIDE $TQ_SPAWN_KEPT\"; "
                                      "env | grep -c '^TQ_SPAWN_OVERRIDE='", NULL};
    struct tq_spawn_opts o = {.env_extra = env, .stdout_path = out};
    pid_t pid = start(argv, &o);
    int st;
    cr_assert_eq(tq_spawn_wait(pid, 5000, &st), 1);
    read_file(out, buf, sizeof buf);
    cr_assert_str_eq(buf, "hello new kept\n1\n");
    cr_assert_str_eq(getenv("TQ_SPAWN_OVERRIDE"), "old", "the parent's environment changed");
}

Test(spawn, descriptors_are_not_inherited, .init = make_tmpdir, .fini = remove_tmpdir) {
    /* A descriptor the parent left without O_CLOEXEC (as hiredis does with
     * its sockets) must not reach the child. */
    int fd = open("/dev/null", O_RDONLY);
    cr_assert_gt(fd, 2);
    char out[128], script[128], buf[64];
    snprintf(out, sizeof out, "%s/fds.log", tmpdir);
    snprintf(script, sizeof script, "if [ -e /proc/self/fd/%d ]; then echo open; else echo closed; fi",
             fd);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct tq_spawn_opts o = {.stdout_path = out};
    pid_t pid = start(argv, &o);
    int st;
    cr_assert_eq(tq_spawn_wait(pid, 5000, &st), 1);
    close(fd);
    read_file(out, buf, sizeof buf);
    cr_assert_str_eq(buf, "closed\n");
}

Test(spawn, child_starts_with_default_signals) {
    /* A parent blocking and ignoring SIGTERM (as a driver handling signals
     * might) must not pass that on: the child still stops on SIGTERM. */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    signal(SIGINT, SIG_IGN);
    const char *argv[] = {"sleep", "30", NULL};
    pid_t pid = start(argv, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGINT, SIG_DFL);
    tq_test_sleep_ms(50);
    kill(pid, SIGINT);
    int st;
    cr_assert_eq(tq_spawn_wait(pid, 2000, &st), 1, "SIGINT ignored by the child");
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    pid = start(argv, NULL);
    cr_assert_eq(tq_spawn_stop(pid, 2000, &st), 1, "SIGTERM blocked in the child");
}

Test(spawn, die_with_parent) {
    /* A helper process spawns sleep with die_with_parent, reports its pid and
     * exits: the kernel must then kill the sleep. */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t helper = fork();
    cr_assert_geq(helper, 0);
    if (helper == 0) {
        const char *argv[] = {"sleep", "30", NULL};
        struct tq_spawn_opts o = {.die_with_parent = 1};
        char err[256];
        pid_t pid = -1;
        if (tq_spawn(argv, &o, &pid, err, sizeof err) != 0) pid = -1;
        if (write(fds[1], &pid, sizeof pid) != sizeof pid) _exit(2);
        _exit(0);
    }
    close(fds[1]);
    pid_t grandchild = -1;
    cr_assert_eq(read(fds[0], &grandchild, sizeof grandchild), (ssize_t)sizeof grandchild);
    close(fds[0]);
    cr_assert_gt(grandchild, 0);
    int st;
    cr_assert_eq(tq_spawn_wait(helper, 5000, &st), 1);
    int64_t deadline = tq_test_now_ms() + 3000;
    while (tq_test_pid_alive(grandchild) && tq_test_now_ms() < deadline) tq_test_sleep_ms(10);
    cr_assert_eq(tq_test_pid_alive(grandchild), 0, "child %d outlived its parent",
                 (int)grandchild);
}

Test(spawn, status_strings) {
    char buf[64];
    tq_spawn_status_str(0, buf, sizeof buf);
    cr_assert_str_eq(buf, "exited 0");
    tq_spawn_status_str(SIGKILL, buf, sizeof buf); /* a raw wait status: killed by 9 */
    cr_assert_str_eq(buf, "killed by SIGKILL");
    tq_spawn_status_str(SIGSEGV | 0x80, buf, sizeof buf);
    cr_assert_str_eq(buf, "killed by SIGSEGV (core dumped)");
}
