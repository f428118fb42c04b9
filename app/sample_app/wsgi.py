"""The gunicorn entry point (`sample_app.wsgi:app`). Unit tests use create_app() directly."""

from sample_app import create_app

app = create_app()
