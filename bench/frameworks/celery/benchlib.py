"""benchlib - what the measuring scripts of this directory share.

hook_overhead.py and probe.py each start a private redis-server and a real
Celery worker with tqbench's task module, push tasks built the way the
driver builds them, and stop everything by pid. This module holds those
pieces: the message layout of common/tq_celery.c (kombu's Redis envelope,
Celery protocol 2, tqbench's headers), the worker argv tqbench's adapter
uses (bench/frameworks/celery.c), a redis-server in a temp dir on a unix
socket (no persistence), and process start/stop by process group.
"""

import base64
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def adapter_worker_args(pool, concurrency, queue):
    """The arguments after `-m celery` that bench/frameworks/celery.c gives
    a worker for a scenario's pool and concurrency, minus --hostname."""
    return ["-A", "tqbench_tasks", "worker", "--pool", pool,
            "--concurrency", str(1 if pool == "solo" else concurrency), "-Q", queue,
            "--without-mingle", "--loglevel", "WARNING"]


def message(queue, run, seq, task="tqbench.noop", args=(), max_attempts=1):
    """One task message as common/tq_celery.c encodes it, enqueued now."""
    task_id = str(uuid.uuid4())
    body = base64.b64encode(json.dumps([list(args), {}, EMBED]).encode()).decode()
    return json.dumps({
        "body": body, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": task, "id": task_id, "shadow": None,
                    "eta": None, "expires": None, "group": None, "group_index": None,
                    "retries": 0, "timelimit": [None, None], "root_id": task_id,
                    "parent_id": None, "argsrepr": repr(tuple(args)), "kwargsrepr": "{}",
                    "origin": "tqbench@" + run, "ignore_result": True, "tqbench_run": run,
                    "tqbench_seq": seq, "tqbench_enq_us": time.time_ns() // 1000,
                    "tqbench_max_attempts": max_attempts},
        "properties": {"correlation_id": task_id, "reply_to": str(uuid.uuid4()),
                       "delivery_mode": 2,
                       "delivery_info": {"exchange": "", "routing_key": queue},
                       "priority": 0, "body_encoding": "base64",
                       "delivery_tag": str(uuid.uuid4())}})


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("timed out after %g s waiting for %s" % (timeout, what))
        time.sleep(0.01)


class PrivateRedis:
    """redis-server on a unix socket in its own temp dir; `with` stops it by
    pid. The dir (with the workers' logs) is removed only when keep_dir is
    false at exit, so a failed measurement leaves its logs behind."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.url = "unix://" + self.sock
        self.keep_dir = True
        self.proc = None
        self.client = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        self.client = redis.Redis(unix_socket_path=self.sock)

        def up():
            try:
                return os.path.exists(self.sock) and self.client.ping()
            except redis.RedisError:
                return False
        wait_until(up, 10, "redis-server on " + self.sock)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        if self.keep_dir:
            print("logs kept in %s" % self.dir)
        else:
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)
        return False


def start_worker(celery_args, env_extra, log):
    """`/usr/bin/python3 -m celery <celery_args>` with this directory on
    PYTHONPATH, in its own session so stop_worker() reaches its pool."""
    env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1", **env_extra)
    return subprocess.Popen([PYTHON, "-m", "celery"] + list(celery_args), env=env, stdout=log,
                            stderr=log, start_new_session=True)


def stop_worker(worker):
    """SIGTERM to the worker's process group (Celery's warm shutdown), then
    SIGKILL after 30 s; reaps the worker."""
    try:
        os.killpg(worker.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
