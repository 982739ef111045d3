/* tq_cpuset.h - CPU lists for pinning processes and for recording where they
 * ran.
 *
 * On a small machine where a benchmark shares its CPUs with Redis, placement
 * moves the figures: a round trip costs ~20 µs when client and Redis share a
 * CPU and 65-80 µs across CPUs (bench/README.md, pinning). So the driver records which CPUs
 * each role was allowed and seen on, and can pin each role to a list. Lists
 * are written as taskset(1) and cpuset(7) write them: "0", "0-3", "0,2-3". */
#ifndef TQ_CPUSET_H
#define TQ_CPUSET_H

#include <sched.h> /* cpu_set_t: _GNU_SOURCE, defined for every file by CMake */
#include <stddef.h>
#include <sys/types.h>

/* Parses a CPU list into set. Every CPU must be one this process may run on
 * (its own affinity), so a pin that the kernel would refuse is refused here
 * with a message naming the CPU and the CPUs available. Returns 0, or -1 with
 * err filled ("\"0-x\": bad CPU number \"x\"", "CPU 7 is not available: this
 * process may run on 0-1"). */
int tq_cpuset_parse(const char *s, cpu_set_t *set, char *err, size_t errlen);
/* Writes set as a list ("0-1,3"; "" for an empty set) into buf; returns buf. */
const char *tq_cpuset_format(const cpu_set_t *set, char *buf, size_t len);
/* The CPUs pid may run on (0: the caller). Returns 0, or -1 when pid is gone. */
int tq_cpuset_allowed(pid_t pid, cpu_set_t *set);

#endif
