"""Evaluation for staff, under /manage/: the evaluators' read-only pilot review, and a coordinator's "Send
evaluation invitations" for a finished session. Parse, check the role, call one service, commit, respond."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer import instrument
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.evaluation import emails, review
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.review_forms import ReviewFilterForm
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm
from mecc_volunteer.htmx import render
from mecc_volunteer.models import StaffRole, TrainingSession
from mecc_volunteer.transactions import attempt

bp = Blueprint("evaluation_staff", __name__, template_folder="templates", url_prefix="/manage")


# --- The pilot review ------------------------------------------------------------------------------------
# A plain GET form without JavaScript; with htmx the same URL answers with the results block. Nothing is written.


@bp.get("/review/")
@roles_required(StaffRole.EVALUATOR)
def review_page():
    form = ReviewFilterForm(formdata=request.args)
    form.set_choices(review.session_choices(), review.organisation_choices(), review.kind_choices())
    form.validate()
    filters, problems = ReviewFilters.from_args(request.args)
    form.add_problems(problems)
    # Read at request time, so a test can swap in another instrument.
    results = review.build_review(filters, q=form.search, instrument=instrument.CURRENT)
    return render(
        "review/index.html",
        block="review_results",
        form=form,
        review=results,
        filters=filters,
        search=form.search,
        column_labels=review.COLUMN_LABELS,
        rate_words=review.RATE_WORDS,
    )


# --- Evaluation invitations for a finished session ---------------------------------------------------------
# A GET page that says who would be invited, and a POST to the same address that sends.


@bp.route("/sessions/<int:session_id>/evaluation-invitations", methods=["GET", "POST"])
@roles_required(StaffRole.COORDINATOR)
def invitations(session_id: int):
    training_session = db.get_or_404(TrainingSession, session_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: emails.send_evaluation_invitations(training_session, by=current_user))
        if done.error:
            flash(done.error.message, "error")
            return redirect(url_for("evaluation_staff.invitations", session_id=session_id), 303)
        sent = done.result
        if not sent:
            flash("Everyone who attended has been invited or has answered. Nothing more was sent.", "success")
            return redirect(url_for("evaluation_staff.invitations", session_id=session_id), 303)
        n = len(sent)
        flash(f"Evaluation invitation sent to {n} {'person' if n == 1 else 'people'}.", "success")
        return redirect(url_for("sessions.emails", session_id=session_id), 303)
    plan = emails.plan_invitations(training_session)
    return render_template("evaluation/invitations.html", form=form, plan=plan, training_session=training_session)
