"""The audit trail for admins: who did what, newest first, by group of actions (read only)."""

from flask import render_template, request

from mecc_volunteer import audit
from mecc_volunteer.admin import bp
from mecc_volunteer.admin.activity_forms import ActivityFilterForm
from mecc_volunteer.auth.access import roles_required


@bp.get("/activity")
@roles_required()
def activity():
    form = ActivityFilterForm(request.args)
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 12 else None
    events, more = audit.activity(form.chosen, before_id=before_id)
    return render_template(
        "admin/activity.html",
        form=form,
        events=events,
        next_before=events[-1].id if events and more else None,
    )
