/* test_proc.c - CPU, RSS and PSS readings from /proc: the test process
 * itself, a spawned child burning CPU, a process tree, a forked tree sharing
 * its memory, children that exited and were reaped (their CPU stays in the
 * tree), a command name holding ") (", and the machine-wide counters. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tq_clock.h"
#include "tq_proc.h"
#include "tq_spawn.h"

static int64_t process_cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Spins until this process has used ms of CPU (by the kernel's precise
 * clock, not /proc), however busy the machine is. */
static void burn_cpu_ms(int ms) {
    int64_t end = process_cpu_us() + (int64_t)ms * 1000;
    volatile uint64_t x = 1;
    while (process_cpu_us() < end)
        for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ULL + 1;
}

/* Polls until the CPU of pid (tree: minus its own) grew by want_us, for up
 * to 10 s; returns the growth seen. */
static int64_t wait_cpu_growth(pid_t pid, int tree, int64_t want_us) {
    struct tq_proc_usage a, b;
    cr_assert_eq(tree ? tq_proc_tree_read(pid, &a) : tq_proc_read(pid, &a), 0);
    int64_t grew = 0, deadline = tq_clock_mono_us() + 10000000;
    while (grew < want_us && tq_clock_mono_us() < deadline) {
        usleep(50000);
        cr_assert_eq(tree ? tq_proc_tree_read(pid, &b) : tq_proc_read(pid, &b), 0);
        grew = (b.cpu_user_us + b.cpu_sys_us) - (a.cpu_user_us + a.cpu_sys_us);
    }
    return grew;
}

static pid_t spawn_or_fail(const char *const argv[], int group) {
    struct tq_spawn_opts o = {.new_process_group = group, .die_with_parent = 1};
    char err[256];
    pid_t pid = 0;
    cr_assert_eq(tq_spawn(argv, &o, &pid, err, sizeof err), 0, "%s", err);
    return pid;
}

static void reap(pid_t pid) {
    int st;
    cr_assert_geq(tq_spawn_stop(pid, 2000, &st), 0);
}

Test(proc, self_cpu_grows_and_rss_positive) {
    struct tq_proc_usage a, b;
    cr_assert_eq(tq_proc_self(&a), 0);
    cr_assert_gt(a.rss_kb, 0);
    cr_assert_eq(a.nprocs, 1);
    int64_t t0 = tq_clock_mono_us();
    burn_cpu_ms(300);
    int64_t wall = tq_clock_mono_us() - t0;
    cr_assert_eq(tq_proc_self(&b), 0);
    int64_t grew = (b.cpu_user_us + b.cpu_sys_us) - (a.cpu_user_us + a.cpu_sys_us);
    /* 300 ms of CPU by the kernel's own clock; /proc counts in ticks (10 ms
     * at USER_HZ 100), so allow two ticks either way, and never more than the
     * wall time that passed. */
    cr_assert_geq(grew, 300000 - 20000, "cpu grew by %lld us only", (long long)grew);
    cr_assert_leq(grew, wall + 20000, "cpu grew by %lld us in %lld us", (long long)grew,
                  (long long)wall);
    struct tq_proc_usage c;
    cr_assert_eq(tq_proc_read(getpid(), &c), 0);
    cr_assert_geq(c.cpu_user_us, b.cpu_user_us);
}

Test(proc, child_cpu_grows) {
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    pid_t pid = spawn_or_fail(argv, 1);
    struct tq_proc_usage a, b;
    int64_t grew = wait_cpu_growth(pid, 0, 200000);
    cr_assert_eq(tq_proc_read(pid, &b), 0);
    reap(pid);
    cr_assert_gt(b.rss_kb, 0);
    cr_assert_eq(b.nprocs, 1);
    cr_assert_geq(grew, 200000, "child cpu grew by %lld us only in 10 s", (long long)grew);
    /* Reaped: gone. */
    cr_assert_eq(tq_proc_read(pid, &a), -1);
    cr_assert_eq(tq_proc_tree_read(pid, &a), -1);
}

/* The CPU clock agrees with the ticks of /proc/PID/stat read just before
 * and just after it, and is finer than a tick: two readings a few ms apart
 * differ by a non-multiple of 10 ms. /proc truncates user and system time to
 * ticks separately (up to 2 ticks below the clock) and leaves out the running
 * slice not yet accounted (up to a kernel tick, <= 1 tick at USER_HZ), so the
 * clock may run up to 3 ticks ahead of the ticks read after it. */
Test(proc, cpu_clock_precise_and_consistent_with_ticks) {
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    pid_t pid = spawn_or_fail(argv, 1);
    wait_cpu_growth(pid, 0, 50000);
    struct tq_proc_usage before, mid, after, tree;
    cr_assert_eq(tq_proc_read(pid, &before), 0);
    cr_assert_eq(tq_proc_read(pid, &mid), 0);
    cr_assert_eq(tq_proc_read(pid, &after), 0);
    /* until it has run again (a loaded machine may not schedule it at once) */
    int64_t deadline = tq_clock_mono_us() + 5000000;
    do {
        usleep(3000);
        cr_assert_eq(tq_proc_tree_read(pid, &tree), 0);
    } while (tree.cpu_ns <= mid.cpu_ns && tq_clock_mono_us() < deadline);
    reap(pid);
    long hz = sysconf(_SC_CLK_TCK);
    int64_t tick_us = 1000000 / (hz > 0 ? hz : 100);
    int64_t ticks_before = before.cpu_user_us + before.cpu_sys_us;
    int64_t ticks_after = after.cpu_user_us + after.cpu_sys_us;
    cr_assert_geq(mid.cpu_ns, 0, "the child's CPU clock is unreadable");
    cr_assert_geq(mid.cpu_ns / 1000, ticks_before - tick_us, "clock %lld ns, ticks %lld us before",
                  (long long)mid.cpu_ns, (long long)ticks_before);
    cr_assert_leq(mid.cpu_ns / 1000, ticks_after + 3 * tick_us,
                  "clock %lld ns, ticks %lld us after", (long long)mid.cpu_ns,
                  (long long)ticks_after);
    cr_assert_gt(tree.cpu_ns, mid.cpu_ns);
    cr_assert_neq((tree.cpu_ns - mid.cpu_ns) % (tick_us * 1000), 0,
                  "the clock moved by whole ticks only (%lld ns)",
                  (long long)(tree.cpu_ns - mid.cpu_ns));
    /* gone: no clock either */
    struct tq_proc_usage gone;
    cr_assert_eq(tq_proc_read(pid, &gone), -1);
}

Test(proc, tree_sums_descendants) {
    /* sh runs a busy grandchild and waits: the tree is 2 processes, and its
     * CPU is the grandchild's, which sh alone does not show. */
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done & wait", NULL};
    pid_t pid = spawn_or_fail(argv, 1);
    int64_t grew = wait_cpu_growth(pid, 1, 200000);
    struct tq_proc_usage one, tree, mine;
    cr_assert_eq(tq_proc_read(pid, &one), 0);
    cr_assert_eq(tq_proc_tree_read(pid, &tree), 0);
    cr_assert_eq(tq_proc_tree_read(getpid(), &mine), 0);
    reap(pid);
    cr_assert_geq(grew, 200000, "tree cpu grew by %lld us only in 10 s", (long long)grew);
    cr_assert_eq(tree.nprocs, 2, "tree of %d processes", tree.nprocs);
    cr_assert_geq(mine.nprocs, 3, "the test's own tree counts %d", mine.nprocs);
    cr_assert_gt(tree.rss_kb, one.rss_kb);
    int64_t cpu_one = one.cpu_user_us + one.cpu_sys_us;
    int64_t cpu_tree = tree.cpu_user_us + tree.cpu_sys_us;
    cr_assert_geq(cpu_tree - cpu_one, 150000, "tree %lld us, parent alone %lld us",
                  (long long)cpu_tree, (long long)cpu_one);
}

/* A leader that runs REAPED_CHILDREN children one after the other, each
 * burning REAPED_MS of CPU and reaped at once, then waits: what they used
 * is only in the leader's cutime/cstime by the time the tree is read (a
 * forking worker's short-lived children, RQ's work horses). */
#define REAPED_CHILDREN 5
#define REAPED_MS 60

Test(proc, tree_counts_children_that_exited_and_were_reaped) {
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t leader = fork();
    cr_assert_geq(leader, 0);
    if (leader == 0) {
        setpgid(0, 0);
        close(ready[0]);
        for (int i = 0; i < REAPED_CHILDREN; i++) {
            pid_t c = fork();
            if (c == 0) {
                burn_cpu_ms(REAPED_MS);
                _exit(0);
            }
            if (c < 0 || waitpid(c, NULL, 0) != c) _exit(1);
        }
        if (write(ready[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
    }
    setpgid(leader, leader);
    close(ready[1]);
    char b;
    cr_assert_eq(read(ready[0], &b, 1), 1, "the leader failed to run its children");
    close(ready[0]);
    struct tq_proc_usage one, tree;
    cr_assert_eq(tq_proc_read(leader, &one), 0);
    cr_assert_eq(tq_proc_tree_read(leader, &tree), 0);
    kill(leader, SIGKILL);
    waitpid(leader, NULL, 0);
    const int64_t want_us = (int64_t)REAPED_CHILDREN * REAPED_MS * 1000;
    cr_assert_eq(tree.nprocs, 1, "the children are gone: %d processes", tree.nprocs);
    /* clock ticks: each child's time rounded to 10 ms at most once */
    int64_t slack = (int64_t)REAPED_CHILDREN * 10000 + 10000;
    cr_assert_geq(tree.cpu_reaped_us, want_us - slack, "reaped %lld us of %lld",
                  (long long)tree.cpu_reaped_us, (long long)want_us);
    cr_assert_geq(tree.cpu_user_us + tree.cpu_sys_us, want_us - slack);
    cr_assert_geq(tree.cpu_ns / 1000, want_us - slack, "clock sum %lld us", (long long)(tree.cpu_ns / 1000));
    /* one process alone counts its own CPU only */
    cr_assert_lt(one.cpu_ns / 1000, want_us / 2, "the leader alone used %lld us",
                 (long long)(one.cpu_ns / 1000));
    cr_assert_eq(one.cpu_reaped_us, 0);
}

/* A leader that touches SHARED_MB of memory and forks SHARERS children which
 * keep it shared (copy-on-write, never written again): the tree's RSS counts
 * it SHARERS + 1 times, its PSS once. */
#define SHARED_MB 64
#define SHARERS 3

static pid_t start_sharing_tree(void) {
    pid_t leader = fork();
    cr_assert_geq(leader, 0);
    if (leader == 0) {
        setpgid(0, 0);
        size_t len = (size_t)SHARED_MB << 20;
        char *mem = malloc(len);
        if (!mem) _exit(1);
        memset(mem, 0x5a, len);
        for (int i = 0; i < SHARERS; i++) {
            pid_t c = fork();
            if (c == 0) {
                for (;;) pause();
            }
        }
        for (;;) pause();
    }
    setpgid(leader, leader); /* either side may run first */
    return leader;
}

Test(proc, tree_pss_counts_shared_memory_once) {
    pid_t leader = start_sharing_tree();
    struct tq_proc_usage u = {0};
    int64_t want_kb = (int64_t)SHARED_MB * 1024;
    int64_t deadline = tq_clock_mono_us() + 10000000;
    while (tq_clock_mono_us() < deadline) {
        if (tq_proc_tree_read(leader, &u) == 0 && u.nprocs == SHARERS + 1 &&
            u.rss_kb >= (SHARERS + 1) * want_kb)
            break;
        usleep(20000);
    }
    struct tq_proc_usage one;
    int one_rc = tq_proc_read(leader, &one);
    kill(-leader, SIGKILL);
    int st;
    cr_assert_eq(waitpid(leader, &st, 0), leader);
    cr_assert_eq(u.nprocs, SHARERS + 1, "tree of %d processes", u.nprocs);
    cr_assert_geq(u.rss_kb, (SHARERS + 1) * want_kb, "tree RSS %lld kB", (long long)u.rss_kb);
    /* the shared block once, plus each process's own few MB at most */
    cr_assert_geq(u.pss_kb, want_kb, "tree PSS %lld kB", (long long)u.pss_kb);
    cr_assert_lt(u.pss_kb, want_kb + (SHARERS + 1) * 8 * 1024, "tree PSS %lld kB, RSS %lld kB",
                 (long long)u.pss_kb, (long long)u.rss_kb);
    /* single-process reads leave PSS out (they run on every heartbeat) */
    cr_assert_eq(one_rc, 0);
    cr_assert_eq(one.pss_kb, -1);
}

Test(proc, command_name_with_parentheses_and_spaces) {
    char dir[] = "/tmp/tq-unit-proc-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char link[128];
    snprintf(link, sizeof link, "%s/x) y (z", dir);
    cr_assert_eq(symlink("/bin/sleep", link), 0);
    const char *argv[] = {link, "30", NULL};
    pid_t pid = spawn_or_fail(argv, 0);
    usleep(50000);
    char path[64], stat[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(stat, sizeof stat, f));
    fclose(f);
    struct tq_proc_usage u;
    int rc = tq_proc_read(pid, &u);
    reap(pid);
    unlink(link);
    rmdir(dir);
    cr_assert_not_null(strstr(stat, "(x) y (z)"), "comm not as expected: %s", stat);
    cr_assert_eq(rc, 0);
    cr_assert_gt(u.rss_kb, 0);
    cr_assert_lt(u.cpu_user_us + u.cpu_sys_us, 1000000);
}

Test(proc, machine_counters) {
    struct tq_cpu_times a, b;
    cr_assert_eq(tq_cpu_times_read(&a), 0);
    cr_assert_gt(a.total, 0);
    cr_assert_leq(a.busy, a.total);
    burn_cpu_ms(200);
    cr_assert_eq(tq_cpu_times_read(&b), 0);
    cr_assert_gt(b.total, a.total);
    double pct = tq_cpu_times_busy_pct(&a, &b);
    cr_assert(pct > 0 && pct <= 100, "busy %f%%", pct);
    cr_assert_eq(tq_cpu_times_busy_pct(&a, &a), 0.0);
    cr_assert_eq(tq_cpu_times_busy_pct(&b, &a), 0.0);
    cr_assert_eq(tq_machine_cpus(), (int)sysconf(_SC_NPROCESSORS_ONLN));
    char model[256];
    tq_machine_cpu_model(model, sizeof model);
    cr_assert_gt(strlen(model), 0);
    cr_assert_eq(strchr(model, '\n'), NULL);
}

Test(proc, bad_pids) {
    struct tq_proc_usage u;
    cr_assert_eq(tq_proc_read(0, &u), -1);
    cr_assert_eq(tq_proc_read(-5, &u), -1);
    cr_assert_eq(tq_proc_tree_read(0, &u), -1);
}
