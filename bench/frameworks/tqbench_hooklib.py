"""tqbench_hooklib - what every Python framework hook shares (Celery's,
AsyncTasQ's, RQ's): tqbench's Redis URL forms turned into a redis-py client,
the hook configuration read from TQ_<FRAMEWORK>_* variables, the batch of
counts and stamps a process flushes to the run keys, the heartbeat in
tqworker's format, and the CPU and memory of a process tree read from /proc.
Framework-neutral: each hook decides when a task starts and ends, what its
outcome is, and the heartbeat's framework fields (queues, pool, version).

Hooks import it by adding bench/frameworks/ (this file's folder, one above
theirs) to sys.path, so it needs no installation and works from the source
tree and from an installed share/tqbench/frameworks alike.
"""
import os
import socket
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

import redis


def env(name, default):
    """The environment variable name, or default when unset or empty."""
    value = os.environ.get(name, "")
    return value if value else default


class RedisUrlError(ValueError):
    pass


def parse_redis_url(url):
    """tqbench's URL forms (common/tq_redis.h) -> dict: unix (bool), host,
    port, path, username, password, db. The password is never put in an
    error message."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
    out = {"unix": False, "host": "127.0.0.1", "port": 6379, "path": "",
           "username": unquote(parts.username) if parts.username else None,
           "password": unquote(parts.password) if parts.password else None, "db": 0}
    if parts.scheme == "unix":
        if not parts.path:
            raise RedisUrlError("unix URL without a socket path")
        out["unix"] = True
        out["path"] = unquote(parts.path)
        if "password" in query:
            out["password"] = query["password"]
        db = query.get("db", "0")
    elif parts.scheme == "redis":
        out["host"] = parts.hostname or "127.0.0.1"
        try:
            out["port"] = parts.port or 6379
        except ValueError:
            raise RedisUrlError("bad port in redis URL for host %s" % out["host"]) from None
        db = parts.path.lstrip("/") or query.get("db", "0")
    else:
        raise RedisUrlError("unsupported Redis URL scheme %r (redis:// or unix://)" % parts.scheme)
    try:
        out["db"] = int(db)
    except ValueError:
        raise RedisUrlError("bad db %r in Redis URL" % db) from None
    return out


def redis_client(url):
    """A redis-py client for a tqbench URL (5 s socket timeouts)."""
    u = parse_redis_url(url)
    common = {"db": u["db"], "username": u["username"], "password": u["password"],
              "socket_timeout": 5}
    if u["unix"]:
        return redis.Redis(unix_socket_path=u["path"], **common)
    return redis.Redis(host=u["host"], port=u["port"], socket_connect_timeout=5, **common)


# ---- /proc readings for the heartbeat ------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _proc_stat(pid):
    """(ppid, utime, stime) of pid, parsed after the last ')' since a
    command name may hold spaces and parentheses; None when gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[11]), int(fields[12])
    except (IndexError, ValueError):
        return None


def _proc_rss_kb(pid):
    try:
        with open("/proc/%d/statm" % pid, "rb") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _proc_pss_kb(pid):
    """The Pss: line of /proc/PID/smaps_rollup in kB, or None when unreadable."""
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


def process_tree_usage(root):
    """cpu_user_us, cpu_sys_us, rss_kb, pss_kb of root and all its
    descendants; pss_kb is None unless every process's PSS was read (summed
    RSS counts the pages a pool's processes share once per process, PSS
    once)."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st is not None:
                stats[int(name)] = st
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    user = sys_ = rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        st = stats.get(pid)
        if st is None:
            continue
        user += st[1]
        sys_ += st[2]
        rss += _proc_rss_kb(pid)
        kb = _proc_pss_kb(pid) if pss is not None else None
        pss = pss + kb if kb is not None else None
        todo.extend(children.get(pid, ()))
    return user * 1000000 // CLK_TCK, sys_ * 1000000 // CLK_TCK, rss, pss


# ---- configuration and key names ------------------------------------------------

def now_us():
    """Wall-clock microseconds, the unit of every stamp and heartbeat time."""
    return time.time_ns() // 1000


class HookConfig:
    """The variables every hook reads, TQ_<NAME>_ followed by REDIS_URL,
    PREFIX, RUN, WORKER_ID, HEARTBEAT_INTERVAL (seconds, 0.1..3600, TTL three
    intervals) and HOOK ("0" disables the hook: the overhead measurement),
    and tqbench's key names (common/tq_keys.h)."""

    def __init__(self, env_prefix, log):
        self.url = env(env_prefix + "REDIS_URL", "redis://127.0.0.1:6379/0")
        self.prefix = env(env_prefix + "PREFIX", "tq")
        self.run = env(env_prefix + "RUN", "standalone")
        self.worker_id = env(env_prefix + "WORKER_ID",
                             "%s-%d" % (socket.gethostname(), os.getpid()))
        raw = env(env_prefix + "HEARTBEAT_INTERVAL", "1")
        try:
            self.interval = min(3600.0, max(0.1, float(raw)))
        except ValueError:
            log.warning("tqbench hook: %sHEARTBEAT_INTERVAL=%r is not a number; using 1 s",
                        env_prefix, raw)
            self.interval = 1.0
        self.enabled = env(env_prefix + "HOOK", "1") != "0"

    def stats_key(self, run):
        return "%s:run:%s:stats" % (self.prefix, run)

    def stamps_key(self, run):
        return "%s:run:%s:stamps" % (self.prefix, run)

    def worker_key(self):
        return "%s:worker:%s" % (self.prefix, self.worker_id)

    def workers_key(self):
        return "%s:workers" % self.prefix


# ---- the batch of one process ---------------------------------------------------

COMPLETED, FAILED, RETRIED = 1, 2, 3
FLUSH_INTERVAL_S = 0.1
STAMPS_PER_RPUSH = 1000


class Batch:
    """Counts and stamps of the tasks one process finished since the last
    flush, and its running totals for the heartbeat. Tasks report through
    task_started / task_done (any thread); a background thread flushes every
    ~100 ms, counters and stamps of one flush in one MULTI/EXEC, so a reader
    that sees the final count also sees every stamp. A failed flush keeps its
    batch for the next one: a lost count would stall the run. publish, when
    given, is called with (processed, failed, inflight) on every flush (the
    Celery hook's shared page for the heartbeat of the main process)."""

    def __init__(self, cfg, log, publish=None):
        self.cfg = cfg
        self.log = log
        self.publish = publish
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.counts = {}   # run -> [completed, failed, retried]
        self.stamps = {}   # run -> ["origin,start,done", ...]
        self.processed = self.failed = self.inflight = 0
        self.client = None
        self.thread = None
        self.stop = threading.Event()
        self.warned_at = 0.0

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="tqbench-flush", daemon=True)
        self.thread.start()

    def task_started(self):
        with self.lock:
            self.inflight += 1

    def task_done(self, run, outcome, stamp):
        """A started task ended: COMPLETED (stamp "origin,start,done" or None
        when its origin is unknown), FAILED, RETRIED (not processed: its next
        attempt is), or None (it ended without an outcome: not counted)."""
        with self.lock:
            self.inflight -= 1
            if outcome is None:
                return
            c = self.counts.get(run)
            if c is None:
                c = self.counts[run] = [0, 0, 0]
            if outcome == RETRIED:
                c[2] += 1
                return
            self.processed += 1
            if outcome != COMPLETED:
                c[1] += 1
                self.failed += 1
                return
            c[0] += 1
            if stamp is not None:  # latency of completed tasks only, as tqworker
                self.stamps.setdefault(run, []).append(stamp)

    def totals(self):
        with self.lock:
            return self.processed, self.failed, self.inflight

    def _loop(self):
        while not self.stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def flush(self):
        with self.lock:
            counts, stamps = self.counts, self.stamps
            self.counts, self.stamps = {}, {}
            totals = self.processed, self.failed, self.inflight
        if self.publish is not None:
            self.publish(*totals)
        if not counts and not stamps:
            return True
        try:
            if self.client is None:
                self.client = redis_client(self.cfg.url)
            pipe = self.client.pipeline(transaction=True)
            for run, (completed, nfailed, retried) in counts.items():
                key = self.cfg.stats_key(run)
                if completed:
                    pipe.hincrby(key, "completed", completed)
                if nfailed:
                    pipe.hincrby(key, "failed", nfailed)
                if retried:
                    pipe.hincrby(key, "retried", retried)
            for run, items in stamps.items():
                key = self.cfg.stamps_key(run)
                for i in range(0, len(items), STAMPS_PER_RPUSH):
                    pipe.rpush(key, *items[i:i + STAMPS_PER_RPUSH])
            pipe.execute()
            return True
        except redis.RedisError as exc:
            with self.lock:
                for run, c in counts.items():
                    mine = self.counts.setdefault(run, [0, 0, 0])
                    for i in range(3):
                        mine[i] += c[i]
                for run, items in stamps.items():
                    self.stamps[run] = items + self.stamps.get(run, [])
            now = time.monotonic()
            if now - self.warned_at > 5:
                self.warned_at = now
                self.log.warning("tqbench hook (pid %d): flush to Redis failed, will retry: %s",
                                 self.pid, exc)
            self.client = None
            return False

    def close(self):
        self.stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=2)
        for _ in range(3):
            if self.flush():
                break
            time.sleep(0.2)


# ---- the heartbeat ----------------------------------------------------------------

class Heartbeat:
    """tqworker's heartbeat (MULTI HSET + PEXPIRE of P:worker:<id>, SADD
    P:workers) written every interval by a thread of this process: the
    contract's fields, static (queues, concurrency, prefetch, protocol,
    version, pool: the hook's) and live (totals() -> processed, failed,
    inflight; CPU, RSS and PSS of this process and its descendants)."""

    def __init__(self, cfg, log, static, totals):
        self.cfg = cfg
        self.log = log
        self.static = dict(static)
        self.totals = totals
        self.pid = os.getpid()
        self.started_us = now_us()
        self.host = socket.gethostname()
        self.client = redis_client(cfg.url)
        self.stop = threading.Event()
        self.thread = None
        self.warned_at = 0.0

    def fields(self):
        processed, failed, inflight = self.totals()
        user, sys_, rss, pss = process_tree_usage(self.pid)
        fields = dict(self.static)
        fields.update({"pid": self.pid, "host": self.host,
                       "started_us": self.started_us, "beat_us": now_us(),
                       "processed": processed, "failed": failed, "inflight": inflight,
                       "cpu_user_us": user, "cpu_sys_us": sys_, "rss_kb": rss})
        if pss is not None:
            fields["pss_kb"] = pss
        return fields

    def beat(self, first=False):
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self.cfg.worker_key(), mapping=self.fields())
            pipe.pexpire(self.cfg.worker_key(), int(3000 * self.cfg.interval))
            if first:
                pipe.sadd(self.cfg.workers_key(), self.cfg.worker_id)
            pipe.execute()
            return True
        except redis.RedisError as exc:
            now = time.monotonic()
            if now - self.warned_at > 5:
                self.warned_at = now
                self.log.warning("tqbench hook: heartbeat %s failed: %s",
                                 self.cfg.worker_key(), exc)
            return False

    def start(self):
        registered = self.beat(first=True)

        def loop():
            nonlocal registered
            while not self.stop.wait(self.cfg.interval):
                ok = self.beat(first=not registered)
                registered = registered or ok

        self.thread = threading.Thread(target=loop, name="tqbench-heartbeat", daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=2)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.srem(self.cfg.workers_key(), self.cfg.worker_id)
            pipe.delete(self.cfg.worker_key())
            pipe.execute()
        except redis.RedisError as exc:
            self.log.warning("tqbench hook: could not deregister %s: %s",
                             self.cfg.worker_id, exc)
