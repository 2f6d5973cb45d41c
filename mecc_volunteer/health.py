"""GET /healthz for load balancers: 200 when the database answers, 503 when it does not."""

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from mecc_volunteer.extensions import csrf, db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


csrf.exempt(bp)
