/* registry.c - the frameworks tqbench knows, in the order `--framework all`
 * runs them. Adding a framework is its adapter file in this folder and one
 * line here. This is the only object that defines tq_frameworks[], so a
 * program linking tqbenchlib can bring its own registry instead (the tests'
 * tqbench_tlist adds a test-only adapter: tests/driver/tlist_registry.c). */
#include "framework.h"

const struct tq_framework *const tq_frameworks[] = {
    &tq_framework_native,
    &tq_framework_celery,
    &tq_framework_asynctasq,
    &tq_framework_rq,
    &tq_framework_rq_simple,
    &tq_framework_sidekiq,
    &tq_framework_bullmq,
    NULL,
};
