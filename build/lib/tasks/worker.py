"""How a covenant worker is started: one command line for `covenant worker`, the tests and the benchmarks."""

from __future__ import annotations

import sys

QUEUES = "covenant,covenant.convert"


def worker_command(
    concurrency: int = 1, queues: str = QUEUES, loglevel: str = "INFO", name: str | None = None, alone: bool = False
) -> list[str]:
    """argv of a Celery worker with the project's settings.

    At concurrency 1 the worker runs its tasks in its own process (Celery's solo pool). The prefork pool would
    keep a supervisor process that has imported everything (~140 MiB) beside the one process that works, for the
    same one task at a time. A task of a solo worker that dies is not lost: it was not acknowledged
    (`task_acks_late`), so Redis hands it out again after COVENANT_VISIBILITY_TIMEOUT, as for a prefork worker
    killed whole. At concurrency N > 1 the prefork pool runs N processes, which share the supervisor's pages.
    """
    argv = [sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "-Q", queues, "--loglevel", loglevel]
    if concurrency == 1:
        argv += ["--pool", "solo"]
    else:
        argv += ["--pool", "prefork", "--concurrency", str(concurrency)]
    if name:
        argv += ["-n", name]
    if alone:
        # a bench or a test that starts its own workers: they need not hear of, nor sync with, one another
        argv += ["--without-gossip", "--without-mingle"]
    return argv
