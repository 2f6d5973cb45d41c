"""Template filters: times are stored in UTC and shown in Europe/London, written out."""

from datetime import date, datetime

from flask import Flask

from mecc_volunteer import settings
from mecc_volunteer.instrument import QuestionType
from mecc_volunteer.models import LONDON, BookingStatus, EmailStatus, SessionStatus, StaffRole


def format_time(value: datetime) -> str:
    """10:30am, 12pm, 9am: the GOV.UK style."""
    local = value.astimezone(LONDON)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.minute:
        return f"{hour}:{local.minute:02d}{suffix}"
    return f"{hour}{suffix}"


def format_date(value: datetime | date) -> str:
    """Tuesday 22 September 2026."""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON)
    return f"{value:%A} {value.day} {value:%B %Y}"


def format_session_time(starts_at: datetime, ends_at: datetime) -> str:
    """Tuesday 22 September 2026, 10:30am to 12pm."""
    return f"{format_date(starts_at)}, {format_time(starts_at)} to {format_time(ends_at)}"


def format_session_label(starts_at: datetime, kind_label: str) -> str:
    """Tuesday 22 September 2026, 10:30am (Volunteer training): a session named in a list, a table or a report."""
    return f"{format_date(starts_at)}, {format_time(starts_at)} ({kind_label})"


def format_datetime(value: datetime) -> str:
    """10:30am on Tuesday 22 September 2026."""
    return f"{format_time(value)} on {format_date(value)}"


_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def format_days_before(days: int) -> str:
    """A cut-off as people say it: "one week", "two weeks", "10 days", "one day", "on the day"."""
    if days == 0:
        return "on the day of"
    if days % 7 == 0:
        weeks = days // 7
        return f"{_NUMBER_WORDS[weeks] if weeks < len(_NUMBER_WORDS) else weeks} week{'s' if weeks != 1 else ''} before"
    return f"{_NUMBER_WORDS[days] if days < len(_NUMBER_WORDS) else days} day{'s' if days != 1 else ''} before"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["london_time"] = format_time
    app.jinja_env.filters["london_date"] = format_date
    app.jinja_env.filters["london_datetime"] = format_datetime
    app.jinja_env.globals["session_time"] = format_session_time
    app.jinja_env.filters["days_before"] = format_days_before
    # Templates compare with the enums themselves (booking.status == BookingStatus.BOOKED), never their strings.
    for enum_class in (BookingStatus, EmailStatus, QuestionType, SessionStatus, StaffRole):
        app.jinja_env.globals[enum_class.__name__] = enum_class

    @app.context_processor
    def service_identity():
        # The programme's settings (an admin edits them): every page and email names the service from here.
        programme = settings.current()
        return {
            "programme_settings": programme,
            "service_name": programme.service_name,
            "organisation_name": programme.organisation_name,
            "contact_email": programme.contact_email,
        }
