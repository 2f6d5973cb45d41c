"""The WSGI entry point: `flask --app wsgi run` or `gunicorn wsgi:app`."""

import sqlalchemy as sa

from mecc_volunteer import create_app, models
from mecc_volunteer.extensions import db

app = create_app()


@app.shell_context_processor
def make_shell_context():
    return {"sa": sa, "db": db, "models": models}
