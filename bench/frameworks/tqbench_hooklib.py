"""tqbench_hooklib - what every framework hook shares (Celery's, AsyncTasQ's):
tqbench's Redis URL forms turned into a redis-py client, and the CPU and
memory of a process tree read from /proc for the heartbeat. Framework-neutral:
each hook keeps its own configuration, batching and heartbeat fields.

Hooks import it by adding bench/frameworks/ (this file's folder, one above
theirs) to sys.path, so it needs no installation and works from the source
tree and from an installed share/tqbench/frameworks alike.
"""
import os
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
