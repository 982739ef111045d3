/* tq_proc.h - CPU time and memory of processes, from /proc.
 * utime+stime are read from /proc/PID/stat after the last ')' (a command name
 * may hold spaces and parentheses), in clock ticks (10 ms at USER_HZ 100);
 * the same CPU time to the nanosecond from the process's POSIX CPU clock
 * (clock_getcpuclockid), which any process may read for any other; RSS from
 * /proc/PID/statm; PSS from /proc/PID/smaps_rollup.
 *
 * RSS counts every page a process maps, so the RSS of a forked pool summed
 * over its processes counts the pages they share (the interpreter, the
 * libraries, copy-on-write memory of the parent) once per process: Celery's
 * prefork pool of 10 sums to about 600 MB of RSS. PSS (proportional set
 * size) splits each shared page among the processes that map it, so PSS
 * summed over a tree is the memory the tree holds. Both are reported. */
#ifndef TQ_PROC_H
#define TQ_PROC_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE, defined by CMake) */
#include <stdint.h>
#include <sys/types.h>

struct tq_proc_usage {
    int64_t cpu_user_us;    /* clock ticks, as /proc/PID/stat counts them */
    int64_t cpu_sys_us;
    int64_t cpu_ns;         /* user + system from the CPU clocks, to the ns;
                               -1 when the root's clock cannot be read. A
                               process that exits during a tree read is left
                               out of both sums alike */
    int64_t rss_kb;
    int64_t pss_kb;         /* -1 when smaps_rollup is unreadable (a kernel
                               before 4.14, or no ptrace access to the pid) */
    int64_t cpu_reaped_us;  /* tree reads: of the CPU above, what descendants
                               that exited used (their parents' cutime +
                               cstime, in clock ticks); 0 for one process */
    int nprocs;             /* processes summed (tree reads) */
    cpu_set_t cpus_seen;    /* the CPU each process last ran on ("processor" in
                               /proc/PID/stat): where the work sat just now */
};

/* One process. Returns 0, or -1 when it is gone or unreadable. */
int tq_proc_read(pid_t pid, struct tq_proc_usage *u);
/* A process and all its descendants, summed (Celery's pool children, say),
 * the CPU of descendants that have exited and were reaped inside the tree
 * included (cpu_reaped_us; one that was not reaped yet, or was reaped by a
 * process outside the tree, is out of the sum); pss_kb is -1 unless every
 * process's PSS was read. Returns 0, or -1 when pid itself is gone. */
int tq_proc_tree_read(pid_t pid, struct tq_proc_usage *u);
/* The calling process (for self-reported heartbeat fields). tq_proc_read and
 * tq_proc_self read statm and stat only (pss_kb = -1): they run on every
 * heartbeat, and smaps_rollup walks the page tables. */
int tq_proc_self(struct tq_proc_usage *u);

/* When pid started, in clock ticks after boot (field 22 of /proc/PID/stat):
 * with the pid, it names one process for good (a pid is reused, a pid and
 * its start time are not). Returns 0, or -1 when it is gone. */
int tq_proc_start_ticks(pid_t pid, unsigned long long *ticks);

/* The PSS of one process in kB (the "Pss:" line of /proc/PID/smaps_rollup).
 * Returns 0, or -1 when unreadable (gone, a kernel before 4.14, or no ptrace
 * access). */
int tq_proc_pss_read(pid_t pid, int64_t *kb);

/* Machine-wide CPU jiffies from /proc/stat's "cpu" line. */
struct tq_cpu_times {
    uint64_t busy;    /* user+nice+system+irq+softirq+steal */
    uint64_t total;   /* busy + idle + iowait */
};
int tq_cpu_times_read(struct tq_cpu_times *t);
/* Busy percent of all CPUs between two readings (0..100), 0 if no time passed. */
double tq_cpu_times_busy_pct(const struct tq_cpu_times *a, const struct tq_cpu_times *b);
/* Online CPUs, and the model name from /proc/cpuinfo ("unknown" if absent). */
int tq_machine_cpus(void);
void tq_machine_cpu_model(char *buf, size_t len);

#endif
