"""tqbench_tasks - the Celery app and tasks tqbench benchmarks.

Run as:  /usr/bin/python3 -m celery -A tqbench_tasks worker ...
with this directory on PYTHONPATH and TQ_CELERY_REDIS_URL set (see
tqbench_hook for every variable). One task per tqworker kind, with the
names common/tq_celery.c writes in its messages' "task" header:

  tqbench.noop            returns at once
  tqbench.sleep(ms)       blocks ms milliseconds (I/O-bound: frees the GIL)
  tqbench.cpu(us)         burns us microseconds of this thread's CPU time
  tqbench.fail            raises; retried at once while attempts remain
                          (the tqbench_max_attempts header), then failed

All ignore their result (no result backend), as tqworker does. A payload
pad arrives as the keyword argument "pad" and is ignored.
"""

import time

from celery import Celery

import tqbench_hook

app = Celery("tqbench", broker=tqbench_hook.broker_url(), set_as_current=True)
app.conf.update(
    task_ignore_result=True,
    result_backend=None,
    worker_send_task_events=False,
)

hook = tqbench_hook.install()


@app.task(name="tqbench.noop", ignore_result=True)
def noop(pad=None):
    return None


@app.task(name="tqbench.sleep", ignore_result=True)
def sleep(ms, pad=None):
    time.sleep(ms / 1000.0)


@app.task(name="tqbench.cpu", ignore_result=True)
def cpu(us, pad=None):
    # thread CPU time, so waiting for the GIL (threads pool) is not counted as work
    deadline = time.thread_time_ns() + us * 1000
    x = 0
    while time.thread_time_ns() < deadline:
        for i in range(64):
            x += i * i
    return None


class TqbenchFailure(RuntimeError):
    """What the fail task raises on purpose."""


@app.task(name="tqbench.fail", bind=True, ignore_result=True)
def fail(self, pad=None):
    req = self.request
    max_attempts = int(getattr(req, tqbench_hook.H_MAX_ATTEMPTS, None) or 1)
    attempt = req.retries or 0
    exc = TqbenchFailure("tqbench fail task, attempt %d of %d" % (attempt + 1, max_attempts))
    if attempt + 1 < max_attempts:
        # Celery's retry publishes a new message; tqbench's headers must ride
        # along so the next attempt still counts in its run.
        raise self.retry(exc=exc, countdown=0, max_retries=max_attempts - 1,
                         headers=tqbench_hook.retry_headers(req))
    raise exc
