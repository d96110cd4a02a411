from celery import Celery

app = Celery("covenant")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["tasks"], related_name="pipeline")
