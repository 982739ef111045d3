/* reply_arena.h - hiredis reply objects for the consumer connections, carved
 * out of one reusable block instead of malloc'ed one by one.
 *
 * hiredis's default reader allocates every element of a reply (a redisReply
 * and a copy of its bytes) and frees them one by one after the callback: for
 * an RPOP of 100 tasks, some 400 malloc/free calls, which overflow glibc's
 * per-thread cache and cost ~750 instructions per task, more than decoding
 * the task (README.md). A consumer's replies come one at a time (one pop in
 * flight), so the same objects, with the same redisReply layout the reply
 * callbacks read, are bump-allocated from the slot's arena and dropped all
 * at once when the reply is freed. A reply larger than the kept block gets
 * blocks of its own, freed with it, so a burst of large payloads leaves no
 * lasting growth. */
#ifndef TQ_WORKER_REPLY_ARENA_H
#define TQ_WORKER_REPLY_ARENA_H

#include <stddef.h>
#include <hiredis/read.h>

struct arena_block;

struct reply_arena {
    struct arena_block *head;  /* the kept block, then any grown ones */
    struct arena_block *cur;   /* the block being carved */
    size_t used;               /* bytes carved from cur */
    int live;                  /* top-level replies not yet freed */
};

/* The reader functions; a reader using them must have the arena as its
 * privdata (reply_arena_attach). */
extern redisReplyObjectFunctions reply_arena_fns;

/* Makes reader build its replies in a (which must outlive the reader's
 * replies). Call on a fresh context, when no reply of a's is alive: it
 * forgets whatever an earlier, freed context left half-built. */
void reply_arena_attach(struct reply_arena *a, redisReader *reader);
/* Frees every block. */
void reply_arena_free(struct reply_arena *a);

#endif
