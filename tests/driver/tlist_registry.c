/* tlist_registry.c - the registry of the tests' tqbench_tlist: the shipped
 * frameworks plus the test-only tlist adapter (tlist_adapter.c). Linked
 * before tqbenchlib, it stands in for bench/frameworks/registry.c. */
#include "framework.h"

extern const struct tq_framework tq_framework_tlist;

const struct tq_framework *const tq_frameworks[] = {
    &tq_framework_native,
    &tq_framework_celery,
    &tq_framework_tlist,
    NULL,
};
