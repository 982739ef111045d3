/* reply_arena.c - consumer replies bump-allocated from one reusable block
 * (see reply_arena.h). The objects are plain redisReply structs, linked into
 * their parent array as hiredis's own functions do, so the reply callbacks
 * (consumer.c, and tq_redis's AUTH/SELECT checks) read them unchanged. */
#include "reply_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#define ARENA_BLOCK (64 * 1024) /* kept between replies: an RPOP of ~300 small tasks */

struct arena_block {
    struct arena_block *next;
    size_t cap;
    _Alignas(16) char data[];
};

static struct arena_block *block_new(size_t cap) {
    struct arena_block *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = NULL;
    b->cap = cap;
    return b;
}

/* Drops every reply at once: keeps the first block, frees the others. */
static void arena_reset(struct reply_arena *a) {
    if (a->head) {
        struct arena_block *b = a->head->next;
        while (b) {
            struct arena_block *n = b->next;
            free(b);
            b = n;
        }
        a->head->next = NULL;
    }
    a->cur = a->head;
    a->used = 0;
    a->live = 0;
}

static void *arena_alloc(struct reply_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head) {
        a->head = block_new(ARENA_BLOCK);
        if (!a->head) return NULL;
        a->cur = a->head;
        a->used = 0;
    }
    if (a->cur->cap - a->used < n) {
        /* a new block, chained after the current one: earlier objects stay put */
        struct arena_block *b = block_new(n > ARENA_BLOCK ? n : ARENA_BLOCK);
        if (!b) return NULL;
        b->next = a->cur->next;
        a->cur->next = b;
        a->cur = b;
        a->used = 0;
    }
    void *p = a->cur->data + a->used;
    a->used += n;
    return p;
}

/* What sits in front of a top-level reply: its arena, which freeObject
 * (given the reply alone) needs. 16 bytes, so the reply stays aligned. */
struct top {
    struct reply_arena *a;
    void *pad;
};

/* A reply object of type with extra bytes after it, linked into its parent
 * array like hiredis's own. */
static redisReply *reply_new(const redisReadTask *task, int type, size_t extra) {
    struct reply_arena *a = task->privdata;
    redisReply *r;
    if (task->parent) {
        r = arena_alloc(a, sizeof *r + extra);
        if (!r) return NULL;
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    } else {
        struct top *t = arena_alloc(a, sizeof *t + sizeof *r + extra);
        if (!t) return NULL;
        t->a = a;
        a->live++;
        r = (redisReply *)(t + 1);
    }
    memset(r, 0, sizeof *r);
    r->type = type;
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    redisReply *r = reply_new(task, task->type, len + 1);
    if (!r) return NULL;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements) {
    size_t n = elements > 0 ? (size_t)elements : 0;
    redisReply *r = reply_new(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *));
    if (!r) return NULL;
    r->elements = n;
    r->element = n ? (redisReply **)(r + 1) : NULL;
    if (n) memset(r->element, 0, n * sizeof(redisReply *));
    return r;
}

static void *create_integer(const redisReadTask *task, long long value) {
    redisReply *r = reply_new(task, REDIS_REPLY_INTEGER, 0);
    if (r) r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task) {
    return reply_new(task, REDIS_REPLY_NIL, 0);
}

/* hiredis frees only top-level replies (after their callback, or a reader
 * that goes away with one): the last one alive empties the arena. */
static void free_object(void *reply) {
    struct reply_arena *a = ((struct top *)reply - 1)->a;
    if (--a->live <= 0) arena_reset(a);
}

redisReplyObjectFunctions reply_arena_fns = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = free_object,
};

void reply_arena_attach(struct reply_arena *a, redisReader *reader) {
    arena_reset(a);
    reader->fn = &reply_arena_fns;
    reader->privdata = a;
}

void reply_arena_free(struct reply_arena *a) {
    arena_reset(a);
    free(a->head);
    a->head = a->cur = NULL;
}
