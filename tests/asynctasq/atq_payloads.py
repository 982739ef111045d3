#!/usr/bin/python3
"""atq_payloads.py - AsyncTasQ task payloads built in Python, independently of
tqbench's C codec (common/tq_asynctasq.c), for its golden vectors and for the
worker tests' producer.

The payloads are the maps AsyncTasQ's dispatch() serializes, reconstructed from
../../../shared/reference/README.md (the 0.9.14 payload captured from a real
dispatch) and from AsyncTasQ 1.x's TaskSerializer.serialize(): Python dicts in
AsyncTasQ's key order, packed by Debian's python3-msgpack (msgpack 1.0,
use_bin_type), dispatched_at from datetime.isoformat() of an aware UTC time.
What tqbench adds is its kwargs (tqbench_run, tqbench_seq, tqbench_enq_us,
tqbench_sched_us, ms / us, tqbench_pad) and a task id derived from (run, seq),
recomputed here from its definition (splitmix64 over FNV-1a), not taken from C.

  atq_payloads.py golden DIR
      writes DIR/<name>.msgpack and DIR/manifest.json (what each decodes to).
  atq_payloads.py stream FILE --count N --run R [--queue Q] [--shape 1x|09]
                  [--kind noop|sleep|cpu|fail] [--arg N] [--enq-us N]
      writes N payloads (seq 0..N-1), each a 4-byte big-endian length and the
      bytes, for a test to LPUSH.
"""
import argparse
import datetime
import json
import os
import struct
import sys
import uuid

import msgpack

M64 = (1 << 64) - 1
FUNCTION_TASK = "asynctasq.tasks.types.function_task.FunctionTask"


def fnv1a(data, h):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def task_id(run, seq):
    """The task id tqbench derives from (run, seq), as a version-4 UUID."""
    run_key = fnv1a(run.encode(), fnv1a(b"asynctasq/", 0xCBF29CE484222325))
    hi = mix64((run_key + seq * 0x9E3779B97F4A7C15) & M64)
    lo = mix64(hi ^ run_key ^ 0x5BD1E9955BD1E995)
    b = bytearray(hi.to_bytes(8, "big") + lo.to_bytes(8, "big"))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def iso(us):
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (epoch + datetime.timedelta(microseconds=us)).isoformat()


def tqbench_kwargs(run, seq, kind, arg, enq, sched=0, pad=0):
    kw = {"tqbench_run": run, "tqbench_seq": seq, "tqbench_enq_us": enq}
    if sched:
        kw["tqbench_sched_us"] = sched
    if kind == "sleep":
        kw["ms"] = arg
    elif kind == "cpu":
        kw["us"] = arg
    if pad:
        kw["tqbench_pad"] = "x" * pad
    return kw


def payload(shape, kwargs, *, tid, attempt, budget, dispatched_at, queue="default",
            func_module="tqbench_tasks", func_name="noop", retry_delay=60, timeout=None,
            visibility_timeout=3600, func_file=None, class_file=None):
    """The dict AsyncTasQ serializes; budget is max_attempts (1.x) or
    max_retries (0.9) as AsyncTasQ names it."""
    if shape == "09":
        params = dict(kwargs)  # 0.9 keeps the kwargs at the top of params too
        params["args"] = []
        params["kwargs"] = kwargs
        metadata = {"task_id": tid, "attempts": attempt, "dispatched_at": dispatched_at,
                    "queue": queue, "max_retries": budget, "retry_delay": retry_delay,
                    "timeout": timeout, "func_module": func_module, "func_name": func_name}
        return {"class": FUNCTION_TASK, "params": params, "metadata": metadata}
    params = {"args": [], "kwargs": kwargs}
    metadata = {"task_id": tid, "current_attempt": attempt, "dispatched_at": dispatched_at,
                "queue": queue, "max_attempts": budget, "retry_delay": retry_delay,
                "timeout": timeout, "visibility_timeout": visibility_timeout,
                "func_module": func_module, "func_name": func_name}
    if func_file:
        metadata["func_file"] = func_file
    d = {"class": FUNCTION_TASK, "params": params, "metadata": metadata}
    if class_file:
        d["class_file"] = class_file
    return d


def tqbench_payload(shape, run, seq, kind, arg, enq, sched=0, pad=0, attempt=0,
                    max_attempts=1, **kw):
    budget = max_attempts if shape == "1x" else max_attempts - 1
    return payload(shape, tqbench_kwargs(run, seq, kind, arg, enq, sched, pad),
                   tid=task_id(run, seq), attempt=attempt, budget=budget,
                   dispatched_at=iso(enq), func_name=kind, **kw)


def pack(d):
    return msgpack.packb(d, use_bin_type=True)


def golden(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = []

    def add(name, shape, data, expect):
        with open(os.path.join(out_dir, name + ".msgpack"), "wb") as f:
            f.write(pack(data))
        cases.append(dict(file=name + ".msgpack", shape=shape, **expect))

    def tq(name, shape, run, seq, kind, arg, enq, sched=0, pad=0, attempt=0, max_attempts=1,
           **kw):
        data = tqbench_payload(shape, run, seq, kind, arg, enq, sched, pad, attempt,
                               max_attempts, **kw)
        md = data["metadata"]
        add(name, shape, data, dict(
            reencode=True, has_tqbench=True, run=run, id=seq, kind=kind, arg=arg, enq=enq,
            sched=sched, attempt=attempt, max_attempts=max_attempts, pad_len=pad,
            task_id=md["task_id"], dispatched_at=md["dispatched_at"], queue=md["queue"],
            func_module=md["func_module"], func_name=md["func_name"],
            func_file=md.get("func_file"), class_file=data.get("class_file"),
            retry_delay=md["retry_delay"], timeout=md["timeout"],
            visibility_timeout=md.get("visibility_timeout")))

    tq("v09_noop", "09", "r1", 1, "noop", 0, 1764423600123456)
    tq("v09_sleep_sched", "09", "bench-2026.11@a_b", 1999, "sleep", 200, 1764423600200001,
       sched=1764423600100000, queue="emails", max_attempts=4, retry_delay=5, timeout=30)
    tq("v09_fail_retry", "09", "r1", 7, "fail", 0, 1764423601000000, attempt=2,
       max_attempts=3)
    tq("v1x_noop", "1x", "r1", 0, "noop", 0, 1764423600123456,
       func_file="/opt/bench/tqbench_tasks.py",
       class_file="/usr/lib/python3.12/site-packages/asynctasq/tasks/types/function_task.py")
    tq("v1x_cpu_pad", "1x", "r2", 65536, "cpu", 500, 1764423600000000, pad=40, attempt=1,
       max_attempts=3, timeout=30, func_file="/opt/bench/tqbench_tasks.py")
    tq("v1x_sleep_pad300", "1x", "r2", 4294967296, "sleep", 70000, 1764423600999999,
       sched=1764423600999998, pad=300, queue="q" * 40, func_module="bench.tasks_mod",
       visibility_timeout=None)
    tq("v1x_fail_bigpad", "1x", "run-x", 3, "fail", 0, 946684800000001, pad=70000,
       attempt=0, max_attempts=1, retry_delay=0, timeout=0, visibility_timeout=0)

    # Payloads from AsyncTasQ's own client, without tqbench's kwargs (0.9's is
    # the reference's capture): decode only, counted in the consumer's run.
    client09 = payload("09", {"i": 1999}, tid="5f0c6f7e-2a5b-4c7e-9d8a-1b2c3d4e5f60",
                       attempt=0, budget=3, dispatched_at="2026-11-29T12:58:10.204635+00:00",
                       func_module="bench_tasks", func_name="noop")
    client1x = payload("1x", {"user_id": 42, "note": "hello"},
                       tid="0b7e2f6c-8d1a-4f3e-a5b6-c7d8e9f0a1b2", attempt=0, budget=3,
                       dispatched_at="2026-11-29T12:58:10+00:00", queue="default",
                       func_module="app.tasks", func_name="send_email",
                       func_file="/srv/app/tasks.py")
    for name, shape, data, enq in (("client_v09", "09", client09, 1795957090204635),
                                   ("client_v1x", "1x", client1x, 1795957090000000)):
        md = data["metadata"]
        add(name, shape, data, dict(
            reencode=False, has_tqbench=False, run="", id=0, kind="noop", arg=0, enq=enq,
            sched=0, attempt=0, max_attempts=1, pad_len=0, task_id=md["task_id"],
            dispatched_at=md["dispatched_at"], queue=md["queue"],
            func_module=md["func_module"], func_name=md["func_name"],
            func_file=md.get("func_file"), class_file=None, retry_delay=md["retry_delay"],
            timeout=md["timeout"], visibility_timeout=md.get("visibility_timeout")))

    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


def stream(args):
    enq = args.enq_us or int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1e6)
    with open(args.file, "wb") as f:
        for seq in range(args.count):
            p = pack(tqbench_payload(args.shape, args.run, seq, args.kind, args.arg, enq,
                                     queue=args.queue))
            f.write(struct.pack(">I", len(p)))
            f.write(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("golden")
    g.add_argument("dir")
    s = sub.add_parser("stream")
    s.add_argument("file")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--run", required=True)
    s.add_argument("--queue", default="default")
    s.add_argument("--shape", choices=("1x", "09"), default="1x")
    s.add_argument("--kind", choices=("noop", "sleep", "cpu", "fail"), default="noop")
    s.add_argument("--arg", type=int, default=0)
    s.add_argument("--enq-us", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "golden":
        golden(a.dir)
    else:
        stream(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
