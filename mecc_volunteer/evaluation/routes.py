"""The surveys volunteers answer from a personal link: after the session, and the follow-up weeks later.

Parse, load (an unknown, ended or other-purpose link is a 404), call one service, commit, respond. Nothing
changes on GET (mail scanners open links).
"""

from flask import current_app, flash, redirect, render_template, request, url_for

from mecc_volunteer import settings
from mecc_volunteer.evaluation import bp, services
from mecc_volunteer.evaluation.forms import survey_form_class
from mecc_volunteer.evaluation.services import SurveyState
from mecc_volunteer.instrument import QuestionType
from mecc_volunteer.models import LinkPurpose, Survey, utcnow
from mecc_volunteer.tokens import booking_or_404
from mecc_volunteer.transactions import attempt

SURVEYS = {
    Survey.AFTER_SESSION: ("evaluation.after_session", LinkPurpose.EVALUATION, "Tell us how the training went"),
    Survey.FOLLOWUP: ("evaluation.followup", LinkPurpose.FOLLOWUP, "What have you done since the training?"),
}


@bp.route("/evaluation/<secret:token>", methods=["GET", "POST"])
def after_session(token: str):
    return _survey(token, Survey.AFTER_SESSION)


@bp.route("/follow-up/<secret:token>", methods=["GET", "POST"])
def followup(token: str):
    return _survey(token, Survey.FOLLOWUP)


def _survey(token: str, survey: Survey):
    endpoint, purpose, title = SURVEYS[survey]
    booking = booking_or_404(token, purpose)
    now = utcnow()
    state = services.survey_state(booking, survey, now)
    if state is not SurveyState.OPEN:
        return _not_open(booking, survey, state, token)
    questions = services.questions_for(booking, survey)
    form = survey_form_class(questions)()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: services.submit_response(booking, survey, form.answers(), now=now))
        if done.error:
            if isinstance(done.error, services.AlreadyAnswered):
                return _not_open(booking, survey, SurveyState.ANSWERED, token, just_now=True)
            flash(done.error.message, "error")
        else:
            return redirect(url_for(endpoint, token=token), 303)
    response = current_app.make_response(
        render_template(
            "evaluation/survey.html",
            form=form,
            questions=questions,
            title=title,
            survey=survey,
            action=url_for(endpoint, token=token),
            training_session=booking.training_session,
            QuestionType=QuestionType,
            Survey=Survey,
        )
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _not_open(booking, survey: Survey, state: SurveyState, token: str, *, just_now: bool = False):
    """Thank you (answered), or a clear page saying why the survey cannot be answered."""
    window = services.survey_window(booking, survey)
    template = "evaluation/thank_you.html" if state is SurveyState.ANSWERED else "evaluation/unavailable.html"
    response = current_app.make_response(
        render_template(
            template,
            state=state,
            State=SurveyState,
            survey=survey,
            Survey=Survey,
            just_now=just_now,
            message=services.STATE_ERRORS[state].message,
            window=window,
            training_session=booking.training_session,
            signpost_url=settings.current().signpost_url,
            signpost_name=settings.current().signpost_name,
            certificate_url=url_for("evaluation.certificate", token=token) if survey is Survey.AFTER_SESSION else None,
        )
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/evaluation/<secret:token>/certificate")
def certificate(token: str):
    """A printable certificate of attendance, for anyone marked as attended."""
    booking = booking_or_404(token, LinkPurpose.EVALUATION)
    if services.survey_state(booking, Survey.AFTER_SESSION) is SurveyState.NOT_ATTENDED:
        return _not_open(booking, Survey.AFTER_SESSION, SurveyState.NOT_ATTENDED, token)
    response = current_app.make_response(
        render_template(
            "evaluation/certificate.html",
            volunteer=booking.volunteer,
            training_session=booking.training_session,
            back_url=url_for("evaluation.after_session", token=token),
        )
    )
    response.headers["X-Robots-Tag"] = "noindex"
    return response
