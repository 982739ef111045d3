"""tqbench_hook - counts and times Celery tasks into tqbench's native keys.

Celery's own events go over Redis pub/sub and are lost under load, so they
cannot tell a benchmark when a run is complete. This hook counts inside the
worker instead, on Celery's task signals, and writes what tqworker writes
(common/tq_keys.h):

  P:run:<run>:stats   HINCRBY completed / failed / retried
  P:run:<run>:stamps  RPUSH "origin_us,started_us,done_us" per completed task
  P:worker:<id>       heartbeat hash (MULTI HSET + EXPIRE), SADD P:workers;
                      the contract's fields plus "pool", the Celery pool
                      that runs the tasks (prefork, threads, solo)

Counts and stamps are batched per process and flushed every ~100 ms by a
background thread (and at process exit), counters and stamps of one flush in
one MULTI/EXEC so a reader that sees the final count also sees every stamp.
With the prefork pool tasks run in the pool children, so every process that
runs tasks keeps its own batch and its own Redis connection, created after
the fork. The heartbeat is written by the main process from worker_ready on
(so "heartbeat present" means "consumer ready") and sums CPU and RSS of the
main process and all its descendants from /proc, and the processed / failed /
inflight counts the children publish in a shared memory page.

The run a task counts in and its enqueue time come from tqbench's message
headers (common/tq_celery.h), which Celery copies into task.request; a task
without them (sent by Celery's own client) counts in TQ_CELERY_RUN and has no
stamp, since its enqueue time is unknown. The stamp's first field is the
latency origin: the scheduled time for open-loop runs, else the enqueue time.

The configuration, the batch, the heartbeat, the Redis URL parsing and the
/proc readings are shared with the other frameworks' hooks
(bench/frameworks/tqbench_hooklib.py); this hook adds the shared page and
Celery's signals.

Configuration (environment, set by tqbench's celery adapter):
  TQ_CELERY_REDIS_URL            redis://[user:pass@]host[:port][/db] or
                                 unix:///path[?db=N][&password=P]
  TQ_CELERY_PREFIX               key prefix (default tq)
  TQ_CELERY_RUN                  run id for tasks without tqbench headers
                                 (default standalone)
  TQ_CELERY_WORKER_ID            heartbeat id (default <host>-<pid>)
  TQ_CELERY_HEARTBEAT_INTERVAL   seconds, 0.1..3600 (default 1); TTL 3 intervals
  TQ_CELERY_HOOK                 "0" disables the hook (overhead measurement)
"""

import logging
import mmap
import multiprocessing
import os
import struct
import sys
import threading
from urllib.parse import quote


# bench/frameworks/ holds what the hooks share (tqbench_hooklib.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import (COMPLETED, FAILED, RETRIED, Batch, Heartbeat,  # noqa: E402
                             HookConfig, now_us, parse_redis_url)
from tqbench_hooklib import env as _env  # noqa: E402
from tqbench_hooklib import redis_client as _hooklib_client  # noqa: E402
from celery import __version__ as celery_version
from celery import signals

# Message headers written by common/tq_celery.c (keep in sync).
H_RUN = "tqbench_run"
H_SEQ = "tqbench_seq"
H_ENQ = "tqbench_enq_us"
H_SCHED = "tqbench_sched_us"
H_MAX_ATTEMPTS = "tqbench_max_attempts"
TQBENCH_HEADERS = (H_RUN, H_SEQ, H_ENQ, H_SCHED, H_MAX_ATTEMPTS)

MAX_SLOTS = 256           # processes that ever run tasks in one worker
SLOT = struct.Struct("qqqq")  # pid, processed, failed, inflight

log = logging.getLogger("tqbench.hook")


# ---- configuration ----------------------------------------------------------

def broker_url(url=None):
    """kombu's spelling of a tqbench Redis URL: unix sockets are
    redis+socket://[:password@]/path?virtual_host=N."""
    u = parse_redis_url(url or _env("TQ_CELERY_REDIS_URL", "redis://127.0.0.1:6379/0"))
    auth = ""
    if u["password"] is not None:
        auth = "%s:%s@" % (quote(u["username"] or "", safe=""), quote(u["password"], safe=""))
    if u["unix"]:
        return "redis+socket://%s%s?virtual_host=%d" % (auth, quote(u["path"]), u["db"])
    host = "[%s]" % u["host"] if ":" in u["host"] else u["host"]
    return "redis://%s%s:%d/%d" % (auth, host, u["port"], u["db"])


def redis_client(url=None):
    return _hooklib_client(url or _env("TQ_CELERY_REDIS_URL", "redis://127.0.0.1:6379/0"))


class Config(HookConfig):
    def __init__(self):
        super().__init__("TQ_CELERY_", log)


# ---- per-process counters shared with the main process ------------------------

class Slots:
    """A shared anonymous page inherited by the pool children: each process
    that runs tasks claims one slot and is its only writer; the heartbeat in
    the main process sums them."""

    def __init__(self):
        self.mem = mmap.mmap(-1, MAX_SLOTS * SLOT.size)  # MAP_SHARED | MAP_ANONYMOUS
        self.used = multiprocessing.Value("i", 0)  # own lock, taken once per process

    def claim(self, pid):
        with self.used.get_lock():
            index = self.used.value
            if index >= MAX_SLOTS:
                return -1
            self.used.value = index + 1
        SLOT.pack_into(self.mem, index * SLOT.size, pid, 0, 0, 0)
        return index

    def publish(self, index, pid, processed, failed, inflight):
        if index >= 0:
            SLOT.pack_into(self.mem, index * SLOT.size, pid, processed, failed, inflight)

    def totals(self):
        processed = failed = inflight = 0
        for i in range(min(self.used.value, MAX_SLOTS)):
            _, p, f, n = SLOT.unpack_from(self.mem, i * SLOT.size)
            processed += p
            failed += f
            inflight += n
        return processed, failed, inflight


# ---- the batch of one process ---------------------------------------------------

# Celery's task states -> the batch's outcomes
OUTCOMES = {"SUCCESS": COMPLETED, "RETRY": RETRIED}


def new_batch(cfg, slots):
    """The batch of this process (tqbench_hooklib.Batch), its totals
    published in a slot of the shared page on every flush."""
    pid = os.getpid()
    slot = slots.claim(pid)
    if slot < 0:
        log.warning("tqbench hook: more than %d task processes; pid %d not in the heartbeat",
                    MAX_SLOTS, pid)
    batch = Batch(cfg, log, lambda p, f, n: slots.publish(slot, pid, p, f, n))
    batch.start()
    return batch


# ---- the heartbeat (main process) ---------------------------------------------

# celery.concurrency modules -> the --pool name that selects them
POOL_NAMES = {"prefork": "prefork", "thread": "threads", "solo": "solo",
              "eventlet": "eventlet", "gevent": "gevent"}


def pool_name(pool):
    """The --pool name of a running Celery pool instance, so the heartbeat
    says which pool actually runs the tasks (prefork when none was asked)."""
    module = type(pool).__module__.rsplit(".", 1)[-1]
    return POOL_NAMES.get(module, module)


def new_heartbeat(cfg, slots, consumer):
    """The main process's heartbeat: the pool's sizes and the children's
    totals summed from the shared page."""
    try:
        queues = ",".join(q.name for q in consumer.task_consumer.queues)
    except AttributeError:
        queues = ",".join(consumer.app.amqp.queues.consume_from or ())
    concurrency = getattr(consumer.pool, "num_processes", None) or \
        getattr(consumer.pool, "limit", None) or 1
    static = {"queues": queues, "concurrency": concurrency,
              "prefetch": consumer.initial_prefetch_count or 0, "protocol": "celery",
              "version": "celery-%s" % celery_version, "pool": pool_name(consumer.pool)}
    beat = Heartbeat(cfg, log, static, slots.totals)
    beat.start()
    return beat


# ---- signal handlers ------------------------------------------------------------

class Hook:
    def __init__(self, cfg):
        self.cfg = cfg
        self.slots = Slots()
        self.batch = None
        self.batch_lock = threading.Lock()
        self.heartbeat = None

    def current_batch(self):
        """This process's batch, created on first use in each process."""
        b = self.batch
        if b is not None and b.pid == os.getpid():
            return b
        with self.batch_lock:  # the threads pool's first tasks race here
            if self.batch is None or self.batch.pid != os.getpid():
                self.batch = new_batch(self.cfg, self.slots)
            return self.batch

    def after_fork_in_child(self):
        # A batch inherited from the parent is not ours (its lock, thread and
        # connection belong to the parent), and a lock may have been copied
        # while held.
        self.batch = None
        self.batch_lock = threading.Lock()

    def on_process_init(self, **_):
        self.current_batch()

    def on_process_shutdown(self, **_):
        b = self.batch
        if b is not None and b.pid == os.getpid():
            b.close()

    def on_prerun(self, task=None, **_):
        self.current_batch().task_started()
        task.request.tqbench_start_us = now_us()

    def on_postrun(self, task=None, state=None, **_):
        done = now_us()
        req = task.request
        run = getattr(req, H_RUN, None) or self.cfg.run
        stamp = None
        start = getattr(req, "tqbench_start_us", None)
        origin = getattr(req, H_SCHED, None) or getattr(req, H_ENQ, None)
        if start is not None and origin:
            stamp = "%d,%d,%d" % (origin, start, done)
        self.current_batch().task_done(run, OUTCOMES.get(state, FAILED), stamp)

    def on_ready(self, sender=None, **_):
        self.heartbeat = new_heartbeat(self.cfg, self.slots, sender)

    def on_shutdown(self, **_):
        b = self.batch
        if b is not None and b.pid == os.getpid():
            b.close()
        if self.heartbeat is not None:
            self.heartbeat.close()

    def connect(self):
        os.register_at_fork(after_in_child=self.after_fork_in_child)
        signals.worker_process_init.connect(self.on_process_init, weak=False)
        signals.worker_process_shutdown.connect(self.on_process_shutdown, weak=False)
        signals.task_prerun.connect(self.on_prerun, weak=False)
        signals.task_postrun.connect(self.on_postrun, weak=False)
        signals.worker_ready.connect(self.on_ready, weak=False)
        signals.worker_shutdown.connect(self.on_shutdown, weak=False)


def retry_headers(request):
    """tqbench's headers of request, for the message of its next attempt."""
    return {h: getattr(request, h) for h in TQBENCH_HEADERS if getattr(request, h, None) is not None}


def install():
    """Connects the hook to Celery's signals unless TQ_CELERY_HOOK=0.
    Called once, at import of the task module in the main process (before
    the pool forks, so the children inherit the shared counters)."""
    cfg = Config()
    if not cfg.enabled:
        return None
    hook = Hook(cfg)
    hook.connect()
    return hook
