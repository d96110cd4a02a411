"""The pipeline as Celery tasks: each takes ids, calls one stage of workflow/stages/ (or routing), returns ids.

Acknowledged late and given back when a worker dies (celeryconfig.py: task_acks_late, task_reject_on_worker_lost):
every stage is idempotent, so a task run twice changes nothing. The task names are stable (queued messages and
beat's schedule carry them).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from celery import Task, chain, chord, group
from celery.exceptions import Retry
from celery.result import AsyncResult

from tasks.app import app
from workflow import routing
from workflow.config import get_settings
from workflow.context import Ctx, document_ids
from workflow.errors import ConversionError, MailError
from workflow.stages import accept, archive, convert, finalize, prepare, render
from workflow.states import RoundStatus

logger = logging.getLogger(__name__)


def _ctx() -> Ctx:
    return Ctx(get_settings())


@app.task(name="tasks.pipeline.render_document")
def render_document(doc_id: int) -> str:
    return render.render(_ctx(), doc_id)


@app.task(name="tasks.pipeline.convert_document", autoretry_for=(ConversionError,), retry_backoff=2, max_retries=3)
def convert_document(doc_id: int) -> str:
    return convert.convert(_ctx(), doc_id)


@app.task(name="tasks.pipeline.prepare_document")
def prepare_document(doc_id: int) -> str:
    return prepare.prepare(_ctx(), doc_id)


@app.task(name="tasks.pipeline.open_round")
def open_round(_results: object, round_id: str) -> str:
    status = prepare.open_round(_ctx(), round_id)
    _then(notify_round, round_id)
    return status


def _then(task: Task, round_id: str) -> None:
    """Start the next step. On a broker it is queued (and retried there); in the embedded mode it runs here, and
    its failure must not undo the step that triggered it: it is logged, and the CLI can run it again."""
    try:
        task.delay(round_id)
    except Exception:
        logger.exception("round %s: %s failed", round_id, task.name)


MAIL = {"autoretry_for": (MailError,), "retry_backoff": 10, "retry_backoff_max": 600, "max_retries": 8}


@app.task(name="tasks.pipeline.notify_round", **MAIL)
def notify_round(round_id: str) -> list[str]:
    return routing.invite_due(_ctx(), round_id)


@app.task(name="tasks.pipeline.send_reminders", **MAIL)
def send_reminders() -> dict[str, list[str]]:
    return routing.remind_at_offsets(_ctx())


@app.task(name="tasks.pipeline.expire_rounds", **MAIL)
def expire_rounds() -> list[str]:
    return routing.expire_overdue(_ctx())


@app.task(name="tasks.pipeline.accept_signature")
def accept_signature(slot_id: int, revision: str, actor: str | None = None) -> str:
    """Accept one signature; the one that completes the round sends it on to finalisation and the archive."""
    status, round_id = _accept(slot_id, revision, actor)
    after_signature(round_id, status)
    return status


def _accept(slot_id: int, revision: str, actor: str | None) -> tuple[str, str]:
    ctx = _ctx()
    round_id = accept.round_of_slot(ctx, slot_id)  # a NotFound for an unknown slot, before any work
    return accept.accept(ctx, slot_id, revision, actor), round_id


def after_signature(round_id: str, status: str) -> None:
    """What follows an accepted signature: finalisation then the archive once the round is complete, the next
    signer's turn while it is open (sequential rounds)."""
    if status == RoundStatus.COMPLETED:
        try:  # if it fails, `covenant round archive` runs it again
            chain(finalize_round.si(round_id), archive_round.si(round_id)).delay()
        except Exception:
            logger.exception("round %s: finalisation or archive failed", round_id)
    elif status == RoundStatus.OPEN:
        _then(notify_round, round_id)


# The embedded mode's follow-ups of web requests: one at a time, in this process, after the answer has gone.
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="covenant-embedded")


def accept_now(slot_id: int, revision: str, actor: str | None = None) -> str:
    """Acceptance for a web request: judged here and now (so the leader hears at once whether it was accepted,
    and why not), while what follows it is queued on the broker, or, in the embedded mode, run after the answer
    in a background thread. A request never waits on a task result (with no broker, Celery's eager results
    share process-wide state across threads: overlapping `.delay().get()` calls left it set and later answers
    failed)."""
    status, round_id = _accept(slot_id, revision, actor)
    if app.conf.task_always_eager:
        _background.submit(after_signature, round_id, status)
    else:
        after_signature(round_id, status)
    return status


# Finalisation asks the TSA for a document timestamp (and, on a real PKI, the OCSP responders): a service that is
# down is waited for. TimestampRequestError is an IOError, as are the HTTP clients' connection errors.
ONLINE = {"autoretry_for": (OSError,), "retry_backoff": 10, "retry_backoff_max": 600, "max_retries": 8}


@app.task(name="tasks.pipeline.finalize_round", **ONLINE)
def finalize_round(round_id: str) -> str:
    finalize.finalize(_ctx(), round_id)
    return round_id


@app.task(name="tasks.pipeline.archive_round", **ONLINE)
def archive_round(round_id: str) -> str:
    return archive.archive(_ctx(), round_id)


def generate(round_id: str) -> AsyncResult:
    """render → convert → prepare for every document in parallel, then open the round."""
    doc_ids = document_ids(_ctx(), round_id)
    per_document = group(chain(render_document.si(d), convert_document.si(d), prepare_document.si(d)) for d in doc_ids)
    return chord(per_document)(open_round.s(round_id))


def launch_from_web(round_id: str) -> str:
    """Generation started by a web request, never waited for: on a broker it is queued; in the embedded mode it
    runs on the one background thread that runs every in-process task started from the web (Celery's eager mode
    keeps process-wide state that overlapping threads corrupt). The request answers at once; the round's page
    follows its status."""
    if not app.conf.task_always_eager:
        generate(round_id)
    else:
        _background.submit(_generate_logged, round_id)
    return RoundStatus.GENERATING


def _generate_logged(round_id: str) -> None:
    try:
        generate_and_wait(round_id)
    except Exception:  # the round stays `generating`: `covenant round resume` runs it again
        logger.exception("round %s: generation failed", round_id)


def generate_and_wait(round_id: str, timeout: float = 900) -> str:
    """Run the generation canvas and wait for it (the command line and the demo may wait; a web request never
    does); the round's status when it ends.

    In the embedded (eager) mode a task that asks to be retried surfaces as celery's Retry: give the caller
    the error behind it, as a worker would after its last retry.
    """
    try:
        return str(generate(round_id).get(timeout=timeout))
    except Retry as exc:
        if isinstance(exc.exc, Exception):
            raise exc.exc from None
        raise
