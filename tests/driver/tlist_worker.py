#!/usr/bin/python3
"""tlist_worker.py - the worker of tests/driver/tlist_adapter.c, a framework
that exists only to exercise every hook of tqbench's adapter interface
(version 2) with a key layout of its own:

  tl:<queue>             list: RPUSHed by the producer, popped from the head
  tl:<queue>:processing  list: each task sits here while it runs (BLMOVE),
                         removed once done (LREM): a reliable queue
  tl:<queue>:done        global counter of completed tasks (INCR), across
  tl:<queue>:failed      runs: the driver counts deltas from a baseline
  tl:queues              set: the queues in use (the adapter's prepare)

and tqbench's contract: the heartbeat hash P:worker:<id> (every second, TTL
three seconds, registry P:workers) and raw latency stamps RPUSHed to
P:run:<run>:stamps ("origin_us,start_us,done_us"), written in the same
MULTI as the counter, so a reader that sees a count sees its stamp.

One task at a time (the adapter refuses concurrency > 1); kinds noop and
sleep only (its capabilities). Stops on SIGTERM after the task in hand.
Environment: TQ_REDIS_URL; argv: --queue Q --id ID --prefix P.
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

import redis


def now_us():
    return int(time.time() * 1_000_000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--prefix", default="tq")
    args = ap.parse_args()
    r = redis.Redis.from_url(os.environ["TQ_REDIS_URL"])
    queue, processing = "tl:%s" % args.queue, "tl:%s:processing" % args.queue
    done_key, failed_key = "tl:%s:done" % args.queue, "tl:%s:failed" % args.queue
    beat_key, registry = "%s:worker:%s" % (args.prefix, args.id), "%s:workers" % args.prefix
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    started, processed, failed, last_beat = now_us(), 0, 0, 0.0
    host = socket.gethostname()

    def beat():
        t = os.times()
        with open("/proc/self/statm") as f:
            rss_kb = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        p = r.pipeline(transaction=True)
        p.hset(beat_key, mapping={
            "pid": os.getpid(), "host": host, "queues": args.queue, "concurrency": 1,
            "prefetch": 1, "protocol": "tlist", "version": "test", "started_us": started,
            "beat_us": now_us(), "processed": processed, "failed": failed, "inflight": 0,
            "cpu_user_us": int(t.user * 1e6), "cpu_sys_us": int(t.system * 1e6),
            "rss_kb": rss_kb})
        p.pexpire(beat_key, 3000)
        p.sadd(registry, args.id)
        p.execute()

    while not stopping:
        if time.monotonic() - last_beat >= 1.0:
            beat()
            last_beat = time.monotonic()
        raw = r.blmove(queue, processing, 0.2, "LEFT", "RIGHT")
        if raw is None:
            continue
        start = now_us()
        try:
            task = json.loads(raw)
            run = task["run"]
            if task.get("kind") == "sleep":
                time.sleep(int(task.get("arg", 0)) / 1000.0)
            origin = task.get("sched") or task.get("enq") or 0
            p = r.pipeline(transaction=True)
            p.lrem(processing, 1, raw)
            p.incr(done_key)
            p.rpush("%s:run:%s:stamps" % (args.prefix, run), "%d,%d,%d" % (origin, start, now_us()))
            p.execute()
            processed += 1
        except (ValueError, KeyError, TypeError):
            p = r.pipeline(transaction=True)
            p.lrem(processing, 1, raw)
            p.incr(failed_key)
            p.execute()
            failed += 1
            processed += 1
    p = r.pipeline(transaction=True)
    p.delete(beat_key)
    p.srem(registry, args.id)
    p.execute()
    return 0


if __name__ == "__main__":
    sys.exit(main())
