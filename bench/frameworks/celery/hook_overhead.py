"""hook_overhead - what tqbench's counting hook costs a Celery worker.

    /usr/bin/python3 hook_overhead.py [--tasks 20000] [--repeat 3]
                                      [--pool prefork] [--concurrency 10]

Drains the same backlog of noop tasks with the same Celery worker twice per
round, once with the hook (TQ_CELERY_HOOK=1) and once without (=0), rounds
interleaved so a noisy neighbour hits both alike, and prints each rate and
the median overhead, in tasks/s and in CPU time of the worker's process tree
per task (the steadier figure on a shared machine). Without the hook nothing counts tasks, so completion is
read from kombu itself: the worker runs with acks_late, so an empty queue
list plus an empty unacked hash means every task has returned. The clock
starts at the first LPUSH; the worker is already consuming (its BRPOP is
seen in CLIENT LIST) and the messages are built beforehand in the layout of
common/tq_celery.c, tqbench headers included.

It starts its own redis-server (unix socket in a temp dir, no persistence)
and stops it by pid; workers are stopped by pid too. The temp dir, with the
workers' log, is removed after a successful measurement and kept otherwise.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tqbench_hook import process_tree_usage  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
QUEUE = "hook-overhead"
RUN = "hook-overhead"
BODY = base64.b64encode(json.dumps(
    [[], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()).decode()


def message(seq):
    task_id = str(uuid.uuid4())
    return json.dumps({
        "body": BODY, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": "tqbench.noop", "id": task_id, "shadow": None,
                    "eta": None, "expires": None, "group": None, "group_index": None,
                    "retries": 0, "timelimit": [None, None], "root_id": task_id,
                    "parent_id": None, "argsrepr": "()", "kwargsrepr": "{}",
                    "origin": "tqbench@" + RUN, "ignore_result": True, "tqbench_run": RUN,
                    "tqbench_seq": seq, "tqbench_enq_us": time.time_ns() // 1000,
                    "tqbench_max_attempts": 1},
        "properties": {"correlation_id": task_id, "reply_to": str(uuid.uuid4()),
                       "delivery_mode": 2,
                       "delivery_info": {"exchange": "", "routing_key": QUEUE},
                       "priority": 0, "body_encoding": "base64",
                       "delivery_tag": str(uuid.uuid4())}})


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.01)


def consumer_blocked(r):
    return any(c.get("cmd") == "brpop" for c in r.client_list())


def one_run(r, sock, hook, opts, log):
    r.flushall()  # our own private redis-server
    env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1",
               TQ_CELERY_REDIS_URL="unix://" + sock, TQ_CELERY_HOOK="1" if hook else "0",
               TQ_CELERY_ACKS_LATE="1", TQ_CELERY_RUN=RUN, TQ_CELERY_WORKER_ID="overhead")
    argv = [PYTHON, "-m", "celery", "-A", "tqbench_tasks", "worker", "--pool", opts.pool,
            "--concurrency", str(opts.concurrency), "-Q", QUEUE, "--without-gossip",
            "--without-mingle", "--loglevel", "WARNING"]
    worker = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_until(lambda: consumer_blocked(r), 60, "the Celery worker's BRPOP")
        msgs = [message(i) for i in range(opts.tasks)]
        user0, sys0, _ = process_tree_usage(worker.pid)
        t0 = time.monotonic()
        pipe = r.pipeline(transaction=False)
        for i in range(0, len(msgs), 1000):
            pipe.lpush(QUEUE, *msgs[i:i + 1000])
        pipe.execute()
        wait_until(lambda: r.llen(QUEUE) == 0 and r.hlen("unacked") == 0, 600, "the drain")
        seconds = time.monotonic() - t0
        user1, sys1, _ = process_tree_usage(worker.pid)
        cpu_us = (user1 + sys1 - user0 - sys0) / opts.tasks
        if hook:
            stats = "tq:run:%s:stats" % RUN
            wait_until(lambda: int(r.hget(stats, "completed") or 0) >= opts.tasks, 10,
                       "the hook's count")
            counted = int(r.hget(stats, "completed"))
            if counted != opts.tasks:
                raise SystemExit("hook counted %d of %d" % (counted, opts.tasks))
        return opts.tasks / seconds, cpu_us
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pool", default="prefork", choices=("prefork", "threads", "solo"))
    ap.add_argument("--concurrency", type=int, default=10)
    opts = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="tqbench-hook-overhead-")
    sock = os.path.join(tmp, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                               "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                               "--dir", tmp], stdout=subprocess.DEVNULL)
    rates = {False: [], True: []}
    cpus = {False: [], True: []}
    try:
        r = redis.Redis(unix_socket_path=sock)
        wait_until(lambda: os.path.exists(sock), 10, "redis-server")
        wait_until(lambda: r.ping(), 10, "redis-server")
        with open(os.path.join(tmp, "celery.log"), "ab") as log:
            for i in range(opts.repeat):
                for hook in (False, True):
                    rate, cpu_us = one_run(r, sock, hook, opts, log)
                    rates[hook].append(rate)
                    cpus[hook].append(cpu_us)
                    print("round %d hook %-3s %8.1f tasks/s  %6.1f us CPU/task  (load %.2f)" %
                          (i + 1, "on" if hook else "off", rate, cpu_us, os.getloadavg()[0]),
                          flush=True)
    finally:
        server.terminate()
        server.wait()
    shutil.rmtree(tmp)  # kept (with celery.log) when a run failed
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    coff, con = statistics.median(cpus[False]), statistics.median(cpus[True])
    print("median: hook off %.1f tasks/s %.1f us CPU/task; hook on %.1f tasks/s %.1f us CPU/task"
          % (off, coff, on, con))
    print("overhead: %.1f%% of throughput, %+.1f us (%+.1f%%) of worker CPU per task"
          % (100.0 * (off - on) / off, con - coff, 100.0 * (con - coff) / coff))
    print("(%d noop tasks, --pool %s --concurrency %d, acks_late; CPU = the worker's process"
          " tree, main process and pool children)" % (opts.tasks, opts.pool, opts.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
