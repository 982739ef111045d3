/* protocol_native.c - tqbench's own protocol: JSON tasks (common/tq_task.h)
 * on one list per queue, P:queue:<name> (common/tq_keys.h). */
#include "protocol.h"

static int native_queue_keys(const char *prefix, const char *queue, char keys[][TQ_KEY_MAX],
                             int max) {
    if (max < 1 || tq_key_queue(keys[0], TQ_KEY_MAX, prefix, queue) < 0) return -1;
    return 1;
}

const struct tq_protocol tq_protocol_native = {
    .name = "native",
    .queue_keys = native_queue_keys,
    .decode = tq_task_decode,
    .run_field = "run",
};
