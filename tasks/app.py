from celery import Celery
from celery.signals import worker_process_shutdown

app = Celery("covenant")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["tasks"], related_name="pipeline")


@worker_process_shutdown.connect
def _stop_converter(**_: object) -> None:
    # Pool processes leave through os._exit, which skips atexit: stop this process's LibreOffice here.
    from workflow.convert import shutdown

    shutdown()
