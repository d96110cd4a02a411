"""The Celery app: the worker's entry point (`celery -A tasks.app worker`, `covenant worker`)."""

import gc

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from signing.patches import install

install()  # this module is an entry point: the worker's process starts here

app = Celery("covenant")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["tasks"], related_name="pipeline")


@worker_process_shutdown.connect
def _stop_converter(**_: object) -> None:
    # Pool processes leave through os._exit, which skips atexit: stop this process's LibreOffice here.
    from workflow.libreoffice import shutdown

    shutdown()


def settle() -> None:
    """Import what the tasks use and move every object made so far out of the cyclic garbage collector's reach.

    Modules, classes and constants live as long as the process; left in the collector's generations, each full
    collection walks them again. Validating a 60-signature document triggers dozens: the collector took ~7 s of
    a 60-unit round run in-process, ~4 s with the imports frozen. Garbage is collected first, so that only live
    objects are frozen (a frozen object is never collected).
    """
    app.loader.import_default_modules()  # the task modules (tasks.pipeline), by name: no import cycle
    gc.collect()
    gc.freeze()


@worker_process_init.connect
def _settle(**_: object) -> None:
    settle()
