/* test_keys.c - the key schema builders and name validation. */
#include <criterion/criterion.h>
#include <string.h>

#include "tq_keys.h"

Test(keys, schema) {
    char buf[TQ_KEY_MAX];
    cr_assert_eq(tq_key_queue(buf, sizeof buf, "tq", "default"), 16);
    cr_assert_str_eq(buf, "tq:queue:default");
    tq_key_worker(buf, sizeof buf, "p", "host-1");
    cr_assert_str_eq(buf, "p:worker:host-1");
    tq_key_workers(buf, sizeof buf, "tq");
    cr_assert_str_eq(buf, "tq:workers");
    tq_key_run_stats(buf, sizeof buf, "tq", "r1");
    cr_assert_str_eq(buf, "tq:run:r1:stats");
    tq_key_run_hist(buf, sizeof buf, "tq", "r1");
    cr_assert_str_eq(buf, "tq:run:r1:hist");
    tq_key_run_stamps(buf, sizeof buf, "tq", "r1");
    cr_assert_str_eq(buf, "tq:run:r1:stamps");
    tq_key_run_pattern(buf, sizeof buf, "tq", "r1");
    cr_assert_str_eq(buf, "tq:run:r1:*");
}

Test(keys, too_small_buffer) {
    char buf[16];
    cr_assert_eq(tq_key_queue(buf, sizeof buf, "tq", "default"), -1); /* 16 chars + NUL */
    cr_assert_eq(tq_key_queue(buf, 17 - 1, "tq", "defaul"), 15);
    cr_assert_eq(tq_key_run_stats(buf, sizeof buf, "tq", "run-1"), -1);
    char big[TQ_KEY_MAX];
    char name[TQ_NAME_MAX];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    cr_assert_gt(tq_key_run_stamps(big, sizeof big, name, name), 0,
                 "the longest names must fit in TQ_KEY_MAX");
}

Test(keys, name_valid) {
    cr_assert(tq_name_valid("default"));
    cr_assert(tq_name_valid("a.b_c-d@e9"));
    cr_assert_not(tq_name_valid(""));
    cr_assert_not(tq_name_valid(NULL));
    cr_assert_not(tq_name_valid("a:b"));
    cr_assert_not(tq_name_valid("a b"));
    cr_assert_not(tq_name_valid("a*"));
    cr_assert_not(tq_name_valid("a?"));
    cr_assert_not(tq_name_valid("a[b]"));
    cr_assert_not(tq_name_valid("\xc3\xa9"));
    char name[TQ_NAME_MAX + 1];
    memset(name, 'a', sizeof name);
    name[TQ_NAME_MAX - 1] = '\0';
    cr_assert(tq_name_valid(name));
    name[TQ_NAME_MAX - 1] = 'a';
    name[TQ_NAME_MAX] = '\0';
    cr_assert_not(tq_name_valid(name));
}
