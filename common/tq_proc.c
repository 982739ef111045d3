/* tq_proc.c - CPU time and memory of processes and of the machine, read from
 * /proc (see tq_proc.h). Workers report their own usage in heartbeats and the
 * driver samples the processes it started, so both go through this file. */
#include "tq_proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated). Returns bytes or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static int64_t ticks_to_us(unsigned long long ticks) {
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    return (int64_t)(ticks * 1000000ULL / (unsigned long long)hz);
}

struct proc_stat {
    pid_t pid, ppid;
    unsigned long long utime, stime;
    unsigned long long cutime, cstime; /* its children's, once it reaped them */
    unsigned long long start_ticks; /* "starttime": ticks after boot it started at */
    int last_cpu;           /* "processor": the CPU it last ran on; -1 unknown */
};

/* Parses /proc/PID/stat. Fields are counted after the last ')', since the
 * command name in parentheses may hold spaces and ')'. */
static int stat_read(pid_t pid, struct proc_stat *st) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0) return -1;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime: fields 3..17 of proc(5). */
    char state;
    int ppid;
    unsigned long long utime, stime;
    long long cutime, cstime;
    if (sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &state,
               &ppid, &utime, &stime, &cutime, &cstime) != 6)
        return -1;
    st->pid = pid;
    st->ppid = ppid;
    st->utime = utime;
    st->stime = stime;
    st->cutime = cutime > 0 ? (unsigned long long)cutime : 0;
    st->cstime = cstime > 0 ? (unsigned long long)cstime : 0;
    /* field 22, starttime, and field 39, processor: counted from the ')' */
    st->start_ticks = 0;
    st->last_cpu = -1;
    const char *q = p + 1;
    for (int field = 3; field < 39 && q; field++) {
        q = strchr(q + 1, ' ');
        if (field == 21 && q) sscanf(q, " %llu", &st->start_ticks);
    }
    int cpu;
    if (q && sscanf(q, " %d", &cpu) == 1 && cpu >= 0) st->last_cpu = cpu;
    return 0;
}

int tq_proc_start_ticks(pid_t pid, unsigned long long *ticks) {
    struct proc_stat st;
    if (pid <= 0 || stat_read(pid, &st) != 0 || st.start_ticks == 0) return -1;
    *ticks = st.start_ticks;
    return 0;
}

static int rss_read_kb(pid_t pid, int64_t *kb) {
    char path[64], buf[256];
    long page_kb = sysconf(_SC_PAGESIZE) / 1024;
    if (page_kb <= 0) page_kb = 4;
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0) return -1;
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return -1;
    *kb = (int64_t)resident * page_kb;
    return 0;
}

int tq_proc_pss_read(pid_t pid, int64_t *kb) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    if (read_small(path, buf, sizeof buf) <= 0) return -1;
    const char *p = strstr(buf, "\nPss:");
    long long v;
    if (!p || sscanf(p + 5, " %lld kB", &v) != 1 || v < 0) return -1;
    *kb = v;
    return 0;
}

/* User + system CPU of pid from its POSIX CPU clock, in ns; -1 when gone. */
static int64_t cpu_clock_ns(pid_t pid) {
    clockid_t id;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &id) != 0 || clock_gettime(id, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tq_proc_read(pid_t pid, struct tq_proc_usage *u) {
    struct proc_stat st;
    memset(u, 0, sizeof *u);
    if (pid <= 0 || stat_read(pid, &st) != 0) return -1;
    int64_t rss = 0;
    if (rss_read_kb(pid, &rss) != 0) return -1;
    u->cpu_user_us = ticks_to_us(st.utime);
    u->cpu_sys_us = ticks_to_us(st.stime);
    u->rss_kb = rss;
    u->pss_kb = -1;
    u->cpu_ns = cpu_clock_ns(pid);
    u->nprocs = 1;
    CPU_ZERO(&u->cpus_seen);
    if (st.last_cpu >= 0 && st.last_cpu < CPU_SETSIZE) CPU_SET(st.last_cpu, &u->cpus_seen);
    return 0;
}

int tq_proc_self(struct tq_proc_usage *u) {
    return tq_proc_read(getpid(), u);
}

static int by_pid(const void *a, const void *b) {
    pid_t x = ((const struct proc_stat *)a)->pid, y = ((const struct proc_stat *)b)->pid;
    return (x > y) - (x < y);
}

/* 1 when all[i] descends from root, else -1; memoized in state[]. The walk
 * up is bounded, since a snapshot taken while pids are reused can in theory
 * hold a cycle. */
static int tree_state(const struct proc_stat *all, signed char *state, size_t n, size_t i,
                      pid_t root) {
    size_t chain[64];
    int depth = 0, verdict = -1;
    size_t cur = i;
    for (;;) {
        if (state[cur] != 0) {
            verdict = state[cur];
            break;
        }
        if (depth == (int)(sizeof chain / sizeof chain[0])) break;
        chain[depth++] = cur;
        pid_t parent = all[cur].ppid;
        if (parent == root) {
            verdict = 1;
            break;
        }
        struct proc_stat key = {.pid = parent};
        const struct proc_stat *p = bsearch(&key, all, n, sizeof *all, by_pid);
        if (!p) break;
        cur = (size_t)(p - all);
    }
    for (int k = 0; k < depth; k++) state[chain[k]] = (signed char)verdict;
    return verdict;
}

int tq_proc_tree_read(pid_t pid, struct tq_proc_usage *u) {
    struct proc_stat root;
    memset(u, 0, sizeof *u);
    if (pid <= 0 || stat_read(pid, &root) != 0) return -1;

    /* One snapshot of every process's parent, sorted by pid; then each
     * process is in the tree when its chain of parents reaches pid. */
    size_t n = 0, cap = 256;
    struct proc_stat *all = malloc(cap * sizeof *all);
    if (!all) return -1;
    DIR *d = opendir("/proc");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0])) continue;
            pid_t p = (pid_t)atoi(e->d_name);
            if (p <= 0 || p == pid) continue;
            if (n == cap) {
                struct proc_stat *grown = realloc(all, cap * 2 * sizeof *all);
                if (!grown) break;
                all = grown;
                cap *= 2;
            }
            if (stat_read(p, &all[n]) == 0) n++;
        }
        closedir(d);
    }
    qsort(all, n, sizeof *all, by_pid);
    signed char *state = calloc(n + 1, 1); /* 0 unknown, 1 in the tree, -1 not */
    int64_t rss = 0, pss = 0;
    if (rss_read_kb(pid, &rss) != 0) rss = 0;
    if (tq_proc_pss_read(pid, &pss) != 0) pss = -1;
    /* a descendant that exited lives on in its parent's cutime/cstime once
     * reaped: a forking worker's short-lived children (RQ's work horse, one
     * per job) would otherwise count only when a sample caught them alive */
    int64_t reaped_us = ticks_to_us(root.cutime + root.cstime);
    u->cpu_user_us = ticks_to_us(root.utime + root.cutime);
    u->cpu_sys_us = ticks_to_us(root.stime + root.cstime);
    u->rss_kb = rss;
    u->pss_kb = pss;
    u->cpu_ns = cpu_clock_ns(pid);
    u->nprocs = 1;
    CPU_ZERO(&u->cpus_seen);
    if (root.last_cpu >= 0 && root.last_cpu < CPU_SETSIZE) CPU_SET(root.last_cpu, &u->cpus_seen);
    for (size_t i = 0; state && i < n; i++) {
        if (tree_state(all, state, n, i, pid) != 1) continue;
        int64_t kb;
        if (rss_read_kb(all[i].pid, &kb) != 0) continue; /* exited meanwhile */
        int64_t ns = cpu_clock_ns(all[i].pid);
        if (ns < 0) continue; /* exited meanwhile: out of every sum */
        u->cpu_user_us += ticks_to_us(all[i].utime + all[i].cutime);
        u->cpu_sys_us += ticks_to_us(all[i].stime + all[i].cstime);
        reaped_us += ticks_to_us(all[i].cutime + all[i].cstime);
        if (u->cpu_ns >= 0) u->cpu_ns += ns;
        u->rss_kb += kb;
        u->nprocs++;
        if (all[i].last_cpu >= 0 && all[i].last_cpu < CPU_SETSIZE)
            CPU_SET(all[i].last_cpu, &u->cpus_seen);
        /* one unreadable PSS would make the sum an undercount: none then */
        if (u->pss_kb >= 0 && tq_proc_pss_read(all[i].pid, &kb) == 0) u->pss_kb += kb;
        else u->pss_kb = -1;
    }
    if (u->cpu_ns >= 0) u->cpu_ns += reaped_us * 1000;
    u->cpu_reaped_us = reaped_us;
    free(state);
    free(all);
    return 0;
}

int tq_cpu_times_read(struct tq_cpu_times *t) {
    char buf[4096];
    memset(t, 0, sizeof *t);
    if (read_small("/proc/stat", buf, sizeof buf) <= 0) return -1;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
    int k = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
                   &iowait, &irq, &softirq, &steal);
    if (k < 7) return -1;
    t->busy = user + nice + sys + irq + softirq + steal;
    t->total = t->busy + idle + iowait;
    return 0;
}

double tq_cpu_times_busy_pct(const struct tq_cpu_times *a, const struct tq_cpu_times *b) {
    if (b->total <= a->total || b->busy < a->busy) return 0.0;
    double pct = 100.0 * (double)(b->busy - a->busy) / (double)(b->total - a->total);
    return pct > 100.0 ? 100.0 : pct;
}

int tq_machine_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void tq_machine_cpu_model(char *buf, size_t len) {
    if (len == 0) return;
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t n = strcspn(v, "\n");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
        if (n > 0) snprintf(buf, len, "%.*s", (int)n, v);
        break;
    }
    fclose(f);
}
