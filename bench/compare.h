/* compare.h - `tqbench compare BASE NEW`: see compare.c. */
#ifndef TQ_BENCH_COMPARE_H
#define TQ_BENCH_COMPARE_H

/* argv[0] is "compare". Returns the exit code: 0 nothing regressed beyond
 * the threshold and the noise, 1 something did, 2 unusable input (usage,
 * unreadable files, different scenarios, missing figures, incompatible
 * schema_version), with the reason on stderr. */
int compare_main(int argc, char **argv);

#endif
