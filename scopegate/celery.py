import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scopegate.settings")

app = Celery("scopegate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
