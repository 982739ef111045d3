/* protocol.c - the table of wire formats tqworker can consume (protocol.h).
 * A new protocol is one protocol_<name>.c file (picked up by CMake) and one
 * line in this table. */
#include "protocol.h"

#include <string.h>

const struct tq_protocol *const tq_protocols[] = {
    &tq_protocol_native,
    &tq_protocol_celery,
    &tq_protocol_asynctasq,
    &tq_protocol_sidekiq,
    NULL,
};

const struct tq_protocol *tq_protocol_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; tq_protocols[i]; i++)
        if (strcmp(tq_protocols[i]->name, name) == 0) return tq_protocols[i];
    return NULL;
}
