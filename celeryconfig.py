"""Celery settings, from the one settings object (workflow/config.py).

No COVENANT_BROKER_URL → the embedded default: tasks run in-process (eager), nothing to start.
COVENANT_BROKER_URL=redis://host:6379/N → the same canvas runs on `covenant worker` processes.
"""

from workflow.config import get_settings

_settings = get_settings()

broker_url = _settings.broker_url or "memory://"
result_backend = _settings.result_backend
task_always_eager = _settings.eager
task_eager_propagates = True

# A task is acknowledged only when it has finished, and given back if its worker dies: every task is
# idempotent (workflow.pipeline), so running one twice is harmless.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Prefork pool only (`covenant worker --concurrency N`, N > 1; at 1 the worker is one process, tasks/worker.py):
# a pool process left above ~340 MiB by a task is replaced after that task, so an idle worker gives it back.
worker_max_memory_per_child = 350_000  # KiB

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_expires = 24 * 3600
broker_connection_retry_on_startup = True
broker_connection_max_retries = None  # a restarted Redis is waited for, not given up on
# A task taken by a worker that dies without acknowledging it goes back to the queue after this many seconds
# (Redis has no connection-bound acknowledgements): longer than any task runs, short enough to recover soon.
# kombu looks for such tasks only every interval × throttle seconds (10 × 10 by default), so a dead worker's
# task waited up to 100 s more whatever the timeout; look every sixth of the timeout (at most 10 s) instead.
_visibility_timeout = _settings.visibility_timeout
broker_transport_options = {
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": max(1, min(10, _visibility_timeout // 6)),
    "unacked_restore_throttle": 1,
}
result_backend_transport_options = {"retry_policy": {"timeout": 5.0}}

# LibreOffice-bound work has a queue of its own so that conversions never hold up signatures.
task_default_queue = "covenant"
task_routes = {"tasks.pipeline.convert_document": {"queue": "covenant.convert"}}
worker_queues = ["covenant", "covenant.convert"]

# `covenant beat`: reminders at the offsets each round names, and expiry at the deadline, every
# COVENANT_BEAT_INTERVAL seconds (15 minutes by default).
beat_schedule = {
    "send-reminders": {"task": "tasks.pipeline.send_reminders", "schedule": _settings.beat_interval},
    "expire-rounds": {"task": "tasks.pipeline.expire_rounds", "schedule": _settings.beat_interval},
}
# Several beats may run (on several machines): celery-redbeat keeps the schedule (with each entry's last run) and
# a lock in Redis; one beat holds the lock and renews it at every tick (at least every third of the lease), the
# others wait for it. A beat that dies leaves its lock to expire after COVENANT_BEAT_LEASE seconds (30), and a
# waiting one takes over within about 1⅓ leases, knowing from Redis when each entry last ran. A reminder is claimed
# in the database before it is sent (workflow/routing.py), so a take-over or a task run twice never sends one twice.
beat_scheduler = "redbeat.RedBeatScheduler"
redbeat_redis_url = _settings.broker_url or ""
redbeat_key_prefix = "covenant:beat:"
redbeat_lock_timeout = _settings.beat_lease
beat_max_loop_interval = max(1, min(5, _settings.beat_lease // 3))
