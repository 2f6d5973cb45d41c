"""Evaluation for staff, under /manage/: the evaluators' read-only pilot review and its printable board report,
and a coordinator's "Send evaluation invitations" for a finished session. Parse, check the role, call one service,
commit, respond."""

import dataclasses

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer import instrument
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.evaluation import emails, review
from mecc_volunteer.evaluation.disclosure import Mode
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.review_forms import BoardReportForm, ReviewFilterForm
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


# --- The board report ------------------------------------------------------------------------------------
# The review's figures for a period, under the rules for outputs (every count of 1 to N-1 hidden), on one page to
# print or save as PDF from the browser. A plain GET form; nothing is written.

UNKNOWN_CHOICE = "Choose an option from the list"


@bp.get("/review/board-report")
@roles_required(StaffRole.EVALUATOR)
def board_report():
    form = BoardReportForm(formdata=request.args)
    sessions = dict(review.session_choices())
    organisations = dict(review.organisation_choices())
    form.set_choices(sessions.items(), organisations.items(), review.kind_choices())
    filters, problems = ReviewFilters.from_args(request.args)
    # A printed report names what it covers: an id that is no longer in the list is a problem, not a filter.
    if filters.session_id is not None and filters.session_id not in sessions:
        problems["session"] = UNKNOWN_CHOICE
        filters = dataclasses.replace(filters, session_id=None)
    if filters.organisation_id is not None and filters.organisation_id not in organisations:
        problems["organisation"] = UNKNOWN_CHOICE
        filters = dataclasses.replace(filters, organisation_id=None)
    form.add_problems(problems)
    scope = [
        *([("Session", sessions[filters.session_id])] if filters.session_id is not None else []),
        *([("Organisation", organisations[filters.organisation_id])] if filters.organisation_id is not None else []),
        *([("Kind of session", filters.kind.label)] if filters.kind is not None else []),
    ]
    results = review.build_review(filters, mode=Mode.OUTPUT, instrument=instrument.CURRENT)
    return render_template(
        "review/board_report.html",
        form=form,
        review=results,
        filters=filters,
        scope=scope,
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
