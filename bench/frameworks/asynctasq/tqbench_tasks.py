"""tqbench_tasks - the AsyncTasQ tasks tqbench benchmarks.

Imported by AsyncTasQ's worker when the first task names it (metadata
func_module "tqbench_tasks", func_name the kind), with this directory on
PYTHONPATH. One function per tqworker kind, with the semantics of the Celery
module (bench/frameworks/celery/tqbench_tasks.py):

  noop             returns at once (a coroutine: runs on the event loop)
  sleep(ms)        waits ms milliseconds without blocking (asyncio.sleep:
                   I/O-bound, as AsyncTasQ's users write it)
  cpu(us)          burns us microseconds of this thread's CPU time; a plain
                   function, so AsyncTasQ runs it in its thread pool, off the
                   event loop
  fail             raises; counted failed (tqbench encodes max_attempts 1:
                   AsyncTasQ counts a retried attempt in stats:completed, so
                   the adapter does not offer retries)

All return None and AsyncTasQ keeps no result (its Redis driver stores none).
tqbench's keyword arguments (tqbench_run, tqbench_seq, tqbench_enq_us,
tqbench_sched_us, tqbench_pad; common/tq_asynctasq.h) are read by the hook
and otherwise ignored.

The functions are decorated with AsyncTasQ's @task when asynctasq imports
(its worker unwraps the decorator); without it the module still imports, so
the hook's accounting can be tested on a Python that lacks AsyncTasQ.
"""

import asyncio
import time

import tqbench_atq_hook

try:
    from asynctasq import task as _atq_task
except ImportError:  # no AsyncTasQ here: plain functions
    def _atq_task(func):
        return func

hook = tqbench_atq_hook.get()


class TqbenchFailure(RuntimeError):
    """What the fail task raises on purpose."""


@_atq_task
async def noop(**kwargs):
    start = hook.begin()
    hook.end(kwargs, start, True)


@_atq_task
async def sleep(ms=0, **kwargs):
    start = hook.begin()
    ok = False
    try:
        await asyncio.sleep(ms / 1000.0)
        ok = True
    finally:
        hook.end(kwargs, start, ok)


@_atq_task
def cpu(us=0, **kwargs):
    start = hook.begin()
    ok = False
    try:
        # thread CPU time, so waiting for the GIL is not counted as work
        deadline = time.thread_time_ns() + us * 1000
        x = 0
        while time.thread_time_ns() < deadline:
            for i in range(64):
                x += i * i
        ok = True
    finally:
        hook.end(kwargs, start, ok)


@_atq_task
async def fail(**kwargs):
    start = hook.begin()
    hook.end(kwargs, start, False)
    raise TqbenchFailure("tqbench fail task (run %s, task %s)"
                         % (kwargs.get(tqbench_atq_hook.KW_RUN), kwargs.get(tqbench_atq_hook.KW_SEQ)))
