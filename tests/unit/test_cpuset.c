/* test_cpuset.c - CPU lists (parse, format, every bad form), spawning a child
 * pinned to a CPU, and reading back where a process ran (tq_proc's
 * cpus_seen): the two halves of pinning and recording placement. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tq_clock.h"
#include "tq_cpuset.h"
#include "tq_proc.h"
#include "tq_spawn.h"

static cpu_set_t mine; /* what this process may run on */

static void setup(void) {
    cr_assert_eq(tq_cpuset_allowed(0, &mine), 0);
    cr_assert_gt(CPU_COUNT(&mine), 0);
}

TestSuite(cpuset, .init = setup);

static int highest(const cpu_set_t *set) {
    int top = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, set)) top = c;
    return top;
}

static const char *fmt(const cpu_set_t *set) {
    static char buf[256];
    return tq_cpuset_format(set, buf, sizeof buf);
}

Test(cpuset, format_ranges_and_singles) {
    cpu_set_t s;
    CPU_ZERO(&s);
    cr_assert_str_eq(fmt(&s), "");
    CPU_SET(0, &s);
    cr_assert_str_eq(fmt(&s), "0");
    CPU_SET(1, &s);
    CPU_SET(2, &s);
    CPU_SET(5, &s);
    CPU_SET(7, &s);
    CPU_SET(8, &s);
    cr_assert_str_eq(fmt(&s), "0-2,5,7-8");
    /* a short buffer holds whole items only */
    char small[6];
    cr_assert_str_eq(tq_cpuset_format(&s, small, sizeof small), "0-2,5");
    char tiny[3];
    cr_assert_str_eq(tq_cpuset_format(&s, tiny, sizeof tiny), "");
}

Test(cpuset, parse_what_this_process_may_use) {
    char list[256], err[256];
    tq_cpuset_format(&mine, list, sizeof list);
    cpu_set_t s;
    cr_assert_eq(tq_cpuset_parse(list, &s, err, sizeof err), 0, "%s: %s", list, err);
    cr_assert(CPU_EQUAL(&s, &mine), "%s parsed as %s", list, fmt(&s));
    char one[16];
    snprintf(one, sizeof one, "%d", highest(&mine));
    cr_assert_eq(tq_cpuset_parse(one, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(CPU_COUNT(&s), 1);
    cr_assert(CPU_ISSET(highest(&mine), &s));
    if (CPU_ISSET(0, &mine) && CPU_ISSET(1, &mine)) {
        cr_assert_eq(tq_cpuset_parse("0-1", &s, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(fmt(&s), "0-1");
        cr_assert_eq(tq_cpuset_parse("1,0", &s, err, sizeof err), 0, "%s", err);
        cr_assert_str_eq(fmt(&s), "0-1");
    }
}

Test(cpuset, bad_lists_name_the_problem) {
    struct {
        const char *list, *says;
    } bad[] = {
        {"", "empty"},          {"a", "bad CPU list item \"a\""}, {"0,", "bad CPU list item"},
        {",0", "bad CPU list item"}, {"0-", "bad CPU list item \"0-\""},
        {"-1", "bad CPU list item \"-1\""}, {"1-0", "runs backwards"},
        {"0 1", "bad CPU list item"}, {"99999999999", "bad CPU list item"},
        {"0x1", "bad CPU list item"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cpu_set_t s;
        char err[256] = "";
        cr_assert_eq(tq_cpuset_parse(bad[i].list, &s, err, sizeof err), -1, "\"%s\" accepted",
                     bad[i].list);
        cr_assert(strstr(err, bad[i].says), "\"%s\": \"%s\" lacks \"%s\"", bad[i].list, err,
                  bad[i].says);
    }
    /* a CPU this process may not use: refused, naming the ones it may */
    char list[16], err[256], avail[256];
    snprintf(list, sizeof list, "%d", CPU_SETSIZE - 1);
    cpu_set_t s;
    cr_assert_eq(tq_cpuset_parse(list, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "is not available"), "%s", err);
    cr_assert(strstr(err, tq_cpuset_format(&mine, avail, sizeof avail)), "%s", err);
}

/* A child pinned to one CPU has that affinity, runs there, and tq_proc says
 * so: the highest CPU, so a reading stuck at CPU 0 would fail on any machine
 * with two CPUs. */
Test(cpuset, spawned_child_pinned_and_seen_there) {
    int cpu = highest(&mine);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    struct tq_spawn_opts o = {.new_process_group = 1, .die_with_parent = 1, .cpus = &one};
    pid_t pid = 0;
    char err[256];
    cr_assert_eq(tq_spawn(argv, &o, &pid, err, sizeof err), 0, "%s", err);
    cpu_set_t got;
    int allowed_rc = tq_cpuset_allowed(pid, &got);
    struct tq_proc_usage u = {0};
    int64_t deadline = tq_clock_mono_us() + 5000000;
    int read_rc = -1;
    while (tq_clock_mono_us() < deadline) { /* until it has run at all */
        read_rc = tq_proc_read(pid, &u);
        if (read_rc == 0 && u.cpu_user_us + u.cpu_sys_us > 0) break;
        usleep(20000);
    }
    int st;
    cr_assert_geq(tq_spawn_stop(pid, 2000, &st), 0);
    cr_assert_eq(allowed_rc, 0);
    cr_assert(CPU_EQUAL(&got, &one), "child may run on %s, pinned to %d", fmt(&got), cpu);
    cr_assert_eq(read_rc, 0);
    cr_assert(CPU_EQUAL(&u.cpus_seen, &one), "child seen on %s, pinned to %d", fmt(&u.cpus_seen),
              cpu);
}

Test(cpuset, spawn_with_an_empty_set_is_an_error_naming_the_step) {
    cpu_set_t none;
    CPU_ZERO(&none);
    const char *argv[] = {"/bin/true", NULL};
    struct tq_spawn_opts o = {.cpus = &none};
    pid_t pid = 0;
    char err[256] = "";
    cr_assert_eq(tq_spawn(argv, &o, &pid, err, sizeof err), -1);
    cr_assert(strstr(err, "sched_setaffinity"), "%s", err);
}

Test(cpuset, own_process_seen_on_an_allowed_cpu) {
    struct tq_proc_usage u;
    cr_assert_eq(tq_proc_self(&u), 0);
    cr_assert_eq(CPU_COUNT(&u.cpus_seen), 1, "seen on %s", fmt(&u.cpus_seen));
    cpu_set_t both;
    CPU_AND(&both, &u.cpus_seen, &mine);
    cr_assert_eq(CPU_COUNT(&both), 1, "seen on %s, allowed %s", fmt(&u.cpus_seen), fmt(&mine));
}
