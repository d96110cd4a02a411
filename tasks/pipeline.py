"""The pipeline as Celery tasks. Each takes ids, calls one function of workflow.pipeline, returns ids."""

from __future__ import annotations

import logging

from celery import chain, chord, group
from celery.exceptions import Retry
from celery.result import AsyncResult

from tasks.app import app
from workflow import pipeline
from workflow.config import get_settings
from workflow.convert import ConversionError

logger = logging.getLogger(__name__)


def _ctx() -> pipeline.Ctx:
    return pipeline.Ctx(get_settings())


COMMON = {"acks_late": True, "reject_on_worker_lost": True}


@app.task(name="tasks.pipeline.render_document", **COMMON)
def render_document(doc_id: int) -> str:
    return pipeline.render_document(_ctx(), doc_id)


@app.task(
    name="tasks.pipeline.convert_document",
    autoretry_for=(ConversionError,),
    retry_backoff=2,
    max_retries=3,
    **COMMON,
)
def convert_document(doc_id: int) -> str:
    return pipeline.convert_document(_ctx(), doc_id)


@app.task(name="tasks.pipeline.prepare_document", **COMMON)
def prepare_document(doc_id: int) -> str:
    return pipeline.prepare_document(_ctx(), doc_id)


@app.task(name="tasks.pipeline.open_round", **COMMON)
def open_round(_results: object, round_id: str) -> str:
    return pipeline.open_round(_ctx(), round_id)


@app.task(name="tasks.pipeline.accept_signature", **COMMON)
def accept_signature(slot_id: int, revision: str, actor: str | None = None) -> str:
    """Accept one signature; the one that completes the round sends it on to finalisation and the archive."""
    ctx = _ctx()
    status = pipeline.accept_signature(ctx, slot_id, revision, actor)
    if status == "completed":
        round_id = pipeline.round_of_slot(ctx, slot_id)
        try:
            archive_round.delay(round_id)
        except Exception:  # embedded mode runs it here: the signature stands, `round archive` tries again
            logger.exception("round %s: archiving after the last signature failed", round_id)
    return status


@app.task(name="tasks.pipeline.archive_round", **COMMON)
def archive_round(round_id: str) -> str:
    return pipeline.archive_round(_ctx(), round_id)


def generate(round_id: str) -> AsyncResult:
    """render → convert → prepare for every document in parallel, then open the round."""
    doc_ids = pipeline.document_ids(_ctx(), round_id)
    per_document = group(chain(render_document.si(d), convert_document.si(d), prepare_document.si(d)) for d in doc_ids)
    return chord(per_document)(open_round.s(round_id))


def generate_and_wait(round_id: str, timeout: float = 900) -> str:
    """Run the generation canvas and wait for it; the round's status when it ends.

    In the embedded (eager) mode a task that asks to be retried surfaces as celery's Retry: give the caller
    the error behind it, as a worker would after its last retry.
    """
    try:
        return str(generate(round_id).get(timeout=timeout))
    except Retry as exc:
        if isinstance(exc.exc, Exception):
            raise exc.exc from None
        raise
