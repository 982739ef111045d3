"""tqbench_atq_worker - AsyncTasQ's own worker CLI, with tqbench's hook
started first.

Run as:  PYTHON -m tqbench_atq_worker worker --driver redis --queues Q
                --concurrency N [--redis-url URL]
with this directory on PYTHONPATH: the arguments are AsyncTasQ's (`python -m
asynctasq worker ...`), and its __main__ runs unchanged (runpy, as -m does).

Why not `python -m asynctasq worker` directly: AsyncTasQ imports a task
module only when the first task naming it is deserialized, and has no option
to import one at start, so a hook living in the task module would write its
first heartbeat only after the first task; tqbench's health check waits for
every worker's heartbeat before it enqueues anything. Starting the hook here
makes "heartbeat present" mean "the worker process is up" (AsyncTasQ's
worker then connects and polls within milliseconds).
"""

import runpy
import sys

import tqbench_atq_hook


def main():
    tqbench_atq_hook.install()
    sys.argv[0] = "asynctasq"
    runpy.run_module("asynctasq", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
