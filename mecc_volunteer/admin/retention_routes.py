"""The admin page for data retention: what the next run will remove and when, and what the last run did (counts
only, never names). The job itself is a step of `flask jobs run` (admin/retention.py)."""

from flask import render_template

from mecc_volunteer import settings
from mecc_volunteer.admin import bp, retention
from mecc_volunteer.auth.access import roles_required


@bp.get("/retention", endpoint="retention")
@roles_required()  # admins only
def retention_page():
    return render_template(
        "admin/retention.html",
        preview=retention.due(),
        last_run=retention.last_run(),
        retention_months=settings.current().retention_months,
        outgoing_email_days=retention.OUTGOING_EMAIL_DAYS,
        staff_link_days=retention.STAFF_LINK_DAYS,
    )
