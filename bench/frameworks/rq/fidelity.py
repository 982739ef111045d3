"""fidelity - enqueues one job through RQ's own client and prints it next to
a job tqbench wrote, for tests/driver/test_rq.c.

  /usr/bin/python3 fidelity.py URL QUEUE TQ_JOB_ID

Enqueues tqbench_rq_tasks.sleep(1, pad='xx') on QUEUE with Queue.enqueue
(JSONSerializer, result_ttl=0, meta, Retry(max=2)), the same job
bench/frameworks/rq.c writes for a sleep 1 task with a 2-byte pad and
max_attempts 3, and prints one JSON line: both hashes as RQ stored them
("rq" and "tq": field -> value, data decompressed when RQ compressed it),
and both as RQ's Job.fetch reads them back ("rq_job", "tq_job": func_name,
args, kwargs, meta, origin, status, result_ttl, timeout, retries_left,
retry_intervals, description).
"""
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tqbench_hooklib import redis_client  # noqa: E402

from rq import Queue, Retry  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402


def stored(conn, job_id):
    out = {}
    for k, v in conn.hgetall("rq:job:" + job_id).items():
        k = k.decode()
        if k == "data":
            try:
                v = zlib.decompress(v)
            except zlib.error:
                pass
        out[k] = v.decode()
    return out


def fetched(conn, job_id):
    j = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    return {"func_name": j.func_name, "args": list(j.args), "kwargs": j.kwargs, "meta": j.meta,
            "origin": j.origin, "status": j.get_status(refresh=False),
            "result_ttl": j.result_ttl, "timeout": j.timeout, "retries_left": j.retries_left,
            "retry_intervals": j.retry_intervals, "description": j.description}


def main():
    url, queue, tq_id = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = redis_client(url)
    q = Queue(queue, connection=conn, serializer=JSONSerializer)
    job = q.enqueue("tqbench_rq_tasks.sleep", args=(1,), kwargs={"pad": "xx"}, result_ttl=0,
                    meta={"tqbench_run": "fidelity"}, retry=Retry(max=2))
    print(json.dumps({"rq_id": job.id, "rq": stored(conn, job.id), "tq": stored(conn, tq_id),
                      "rq_job": fetched(conn, job.id), "tq_job": fetched(conn, tq_id)}))


if __name__ == "__main__":
    main()
