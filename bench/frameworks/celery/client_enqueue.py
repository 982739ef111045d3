"""client_enqueue - Celery's own client enqueueing noop tasks, timed.

    /usr/bin/python3 client_enqueue.py --queue Q --count N [--keep]

Sends N tqbench.noop tasks with apply_async (Celery's real producer path:
protocol-2 message, kombu's Redis transport, one LPUSH each) onto queue Q of
the Redis in TQ_CELERY_REDIS_URL, and prints one JSON line:

    {"queue": "Q", "count": N, "seconds": 0.87, "per_s": 2298.9}

One untimed call first opens the connection and declares the queue, so the
figure is the steady enqueue rate. Without --keep the queue's lists and its
kombu binding are deleted afterwards (tqbench measures this on a list no
worker consumes); with --keep the messages stay (the tests feed tqworker
--protocol celery with them, then the warm-up message is one more).
"""

import argparse
import json
import os
import sys
import time

os.environ["TQ_CELERY_HOOK"] = "0"  # a producer: no worker signals to hook
import tqbench_hook  # noqa: E402
import tqbench_tasks  # noqa: E402

PRIORITY_SEP = "\x06\x16"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--keep", action="store_true",
                    help="leave the messages on the queue (plus the warm-up one)")
    opts = ap.parse_args()
    if opts.count < 1:
        ap.error("--count must be at least 1")

    noop = tqbench_tasks.noop
    noop.apply_async(queue=opts.queue)  # connect and declare, untimed
    t0 = time.perf_counter()
    for _ in range(opts.count):
        noop.apply_async(queue=opts.queue)
    seconds = time.perf_counter() - t0

    if not opts.keep:
        client = tqbench_hook.redis_client()
        keys = [opts.queue] + ["%s%s%d" % (opts.queue, PRIORITY_SEP, p) for p in (3, 6, 9)]
        client.delete(*keys, "_kombu.binding.%s" % opts.queue)
    print(json.dumps({"queue": opts.queue, "count": opts.count, "seconds": round(seconds, 6),
                      "per_s": round(opts.count / seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
