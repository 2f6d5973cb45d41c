"""The evaluators' read-only pilot review: parse the filters, call one service, render (no commit: nothing
is written). A plain GET form without JavaScript; with htmx the same URL answers with the results block."""

from flask import Blueprint, request

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.evaluation import instrument, review
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.review_forms import ReviewFilterForm
from mecc_volunteer.htmx import render
from mecc_volunteer.models import StaffRole

bp = Blueprint("review", __name__, template_folder="templates", url_prefix="/manage/review")


@bp.get("/")
@roles_required(StaffRole.EVALUATOR)
def index():
    form = ReviewFilterForm(formdata=request.args)
    form.set_choices(review.session_choices(), review.organisation_choices())
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
        small_number=review.SMALL_NUMBER,
    )
