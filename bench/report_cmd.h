/* report_cmd.h - the `tqbench report` subcommand (see report_cmd.c). */
#ifndef TQ_BENCH_REPORT_CMD_H
#define TQ_BENCH_REPORT_CMD_H

/* argv[0] is "report". Returns the exit code: 0 written, 1 a write failed,
 * 2 usage or an unreadable results.json (named, with what is wrong). */
int report_cmd_main(int argc, char **argv);

#endif
