/* fuzz_scenario.c - scenario_load (bench/scenario.c, compiled into this
 * harness) on arbitrary file contents. The bytes are written to a memfd and
 * loaded through /proc/self/fd/N, the way tqbench reads a scenario file.
 * Invariants:
 *  - scenario_load returns 0 or -1; every error names the file;
 *  - an accepted scenario is within the documented bounds (scenario.h);
 *  - scenario_to_json of an accepted scenario (minus "file", and minus
 *    "tasks" when a rate scenario gives duration_s instead, and minus "rate"
 *    and "rate_fraction" of a rate sweep) loads back to the same scenario. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "scenario.h"

static int fd = -1;
static char path[64];

static int write_file(const void *data, size_t size) {
    if (ftruncate(fd, 0) != 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, (const char *)data + off, size - off, (off_t)off);
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

static int same_scenario(const struct scenario *a, const struct scenario *b) {
    if (strcmp(a->name, b->name) || strcmp(a->description, b->description) ||
        a->noptions != b->noptions || a->tasks != b->tasks || a->warmup_tasks != b->warmup_tasks ||
        a->workers != b->workers || a->concurrency != b->concurrency ||
        a->prefetch != b->prefetch || a->mix_len != b->mix_len ||
        a->payload_bytes != b->payload_bytes || a->arrival != b->arrival ||
        a->rate != b->rate || a->duration_s != b->duration_s || a->timeout_s != b->timeout_s ||
        a->repeat != b->repeat)
        return 0;
    for (int i = 0; i < a->noptions; i++)
        if (strcmp(a->options[i].framework, b->options[i].framework) ||
            strcmp(a->options[i].name, b->options[i].name) ||
            strcmp(a->options[i].value, b->options[i].value))
            return 0;
    for (int i = 0; i < a->mix_len; i++)
        if (a->mix[i].kind != b->mix[i].kind || a->mix[i].arg != b->mix[i].arg ||
            a->mix[i].max_attempts != b->mix[i].max_attempts ||
            a->mix[i].weight != b->mix[i].weight)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fd < 0) {
        fd = memfd_create("fuzz_scenario", 0);
        FUZZ_CHECK(fd >= 0, "memfd_create");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(write_file(data, size) == 0, "write");
    struct scenario s;
    char err[1024];
    err[0] = '\0';
    int rc = scenario_load(path, &s, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0, "error does not name the file: %s", err);
        return 0;
    }
    FUZZ_CHECK(tq_name_valid(s.name), "name \"%s\"", s.name);
    FUZZ_CHECK((s.tasks >= 1 && s.tasks <= 1000000000L) ||
                   (s.tasks == 0 && s.arrival == ARRIVAL_RATE && s.duration_s > 0),
               "tasks %ld", s.tasks);
    FUZZ_CHECK(s.warmup_tasks >= 0 && s.workers >= 1 && s.workers <= 1024 && s.concurrency >= 1 &&
                   s.prefetch >= 1 && s.repeat >= 1 && s.repeat <= 1000 &&
                   s.payload_bytes <= (1u << 20),
               "counts out of bounds");
    FUZZ_CHECK(s.arrival >= ARRIVAL_BACKLOG && s.arrival <= ARRIVAL_COLD, "arrival %d",
               (int)s.arrival);
    FUZZ_CHECK(isfinite(s.timeout_s) && s.timeout_s > 0 && isfinite(s.rate) && s.rate >= 0 &&
                   isfinite(s.duration_s) && s.duration_s >= 0,
               "times out of bounds");
    FUZZ_CHECK(s.mix_len >= 1 && s.mix_len <= FW_MIX_MAX, "mix_len %d", s.mix_len);
    for (int i = 0; i < s.mix_len; i++) {
        const struct fw_mix_entry *m = &s.mix[i];
        FUZZ_CHECK((int)m->kind >= 0 && m->kind < TQ_KIND__COUNT && m->weight > 0 &&
                       isfinite(m->weight) && m->max_attempts >= 1 && m->max_attempts <= 100 &&
                       m->arg >= 0 &&
                       (m->kind == TQ_KIND_SLEEP || m->kind == TQ_KIND_CPU || m->arg == 0),
                   "mix[%d] out of bounds", i);
    }

    /* Round trip through scenario_to_json. */
    cJSON *j = scenario_to_json(&s);
    FUZZ_CHECK(j != NULL, "scenario_to_json");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "file");
    if (s.tasks == 0) cJSON_DeleteItemFromObjectCaseSensitive(j, "tasks");
    /* a rate sweep's rates are its values: its "rate" (0) and
     * "rate_fraction" describe a point in results.json, and do not load */
    if (s.sweep_param == SWEEP_RATE) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "rate");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "rate_fraction");
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    FUZZ_CHECK(text != NULL, "print");
    FUZZ_CHECK(write_file(text, strlen(text)) == 0, "write");
    struct scenario back;
    rc = scenario_load(path, &back, err, sizeof err);
    FUZZ_CHECK(rc == 0, "scenario_to_json's output does not load: %s\n%s", err, text);
    FUZZ_CHECK(same_scenario(&s, &back), "round trip changed the scenario:\n%s", text);
    free(text);
    return 0;
}
