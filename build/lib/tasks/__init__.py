"""Celery app and tasks only: thin wrappers that take ids and call workflow/ and signing/."""
