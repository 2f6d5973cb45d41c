"""Every form in the app, with every bad input that suits each of its fields (issue 7, section 1).

The forms are found, not listed: tests/forms_crawler.py GETs every rule of app.url_map that answers GET, as an
anonymous visitor (with each personal link: My booking, evaluation, follow-up), a coordinator, an evaluator and
an admin, and reads every `<form method="post">` and every element with `hx-post`. A rule that takes POST and
that no form found this way posts to fails the test (ALLOWED_WITHOUT_A_FORM is for a post that has no page).

Each field gets each item of ../shared/bad-inputs.json whose tags suit its kind (text, email, number, choice,
link, date, long), with every other field at a valid value, as a plain POST (the form's CSRF field) and as an
htmx POST (the body's hx-headers token). Then:
- no response is a 5xx, and no exception escapes;
- a refused value shows its error next to the field (the `<field id>-error` message; a date's on its day), the
  error summary links to the field, the page title starts with "Error:", and nothing is stored (a hidden
  field's bad value, which no one can type, gets an error message instead; a wrong password gets the one
  sign-in error, next to the email address, by design);
- an accepted value round-trips unchanged (NFC and trimming aside, and the phone number's UK format) through
  the database row it went into, the pages that show it (escaped, never markup), the emails it goes into (read
  from a real SMTP server on loopback) and the downloads that carry it (roster CSV, responses CSV and XLSX; the
  CSV's formula guard may add a leading ').

What a form stores and where it shows is written down per form in PLANS; a form or field the crawl finds that
no plan knows fails the test, so a new form or field cannot slip through.

Cost: one app, world and SMTP server for the module. The cases of one form run together the first time one of
them is asked for (each submission gets a fresh booking, session or link, so every value meets the same state);
mail is delivered and the responses files downloaded once per form. Each parametrized item then reports its own
case, so a failure names the form, the field and the input. The run prints how long each form took (and, with
EVERY_FORM_OUTCOMES=<file>, writes which value each form stored and which it refused).

A defect this test finds outside the forms is listed in KNOWN_DEFECTS (a strict xfail) until it is fixed.
"""

import contextlib
import csv
import html
import io
import json
import os
import re
import tempfile
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, quote_plus, urlsplit

import flask_migrate
import markupsafe
import openpyxl
import pyotp
import pytest
import sqlalchemy as sa

from mecc_volunteer import create_app
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    District,
    EmailStatus,
    EvaluationAnswer,
    EvaluationResponse,
    LinkPurpose,
    Organisation,
    OrganisationType,
    OutgoingEmail,
    Programme,
    SessionKind,
    StaffLink,
    StaffLinkPurpose,
    StaffRole,
    StaffUser,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.tokens import issue_link
from mecc_volunteer.validation import normalise_uk_phone
from tests.client import BrowserLikeClient
from tests.forms_crawler import (
    STAFF_TOTP_SECRET,
    TEAMS,
    Field,
    Form,
    add_booking,
    build_world,
    choose,
    crawl,
    password_step,
    post_endpoints,
    read_forms,
    sign_in,
)
from tests.helpers import (
    STAFF_PASSWORD,
    app_settings,
    empty_all_tables,
    london,
    next_authenticator_code,
    seed_reference_data,
    staff_password_hash,
    staff_password_hashed_once,
)
from tests.mail_servers import ALLOWED_SMTP_PORTS, SMTPServer, wait_for_mail

# --- The bad inputs -----------------------------------------------------------------------------------------

BAD_INPUTS_PATH = Path(os.environ.get("BAD_INPUTS", Path(__file__).resolve().parents[2] / "shared" / "bad-inputs.json"))
# 64 characters, @, and a 256-character domain of labels of at most 63: plausible, and too long for any mailbox.
EMAIL_321 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60 + ".org"


def _expand(value: str) -> str:
    if value == "@EMAIL321":
        return EMAIL_321
    repeat = re.fullmatch(r"@REPEAT:(.+):(\d+)", value, re.S)
    if repeat:
        return repeat.group(1) * int(repeat.group(2))
    return value


@dataclass(frozen=True)
class Bad:
    id: str
    value: str  # as the server will see it
    raw: str | None  # sent as it is in the url-encoded body (not encoded again)
    tags: frozenset


def load_bad_inputs() -> list[Bad]:
    items = json.loads(BAD_INPUTS_PATH.read_text(encoding="utf-8"))["items"]
    bad = []
    for item in items:
        if "raw" in item:
            # Werkzeug keeps an invalid percent-escape as the text it was (errors="werkzeug.url_quote").
            seen = parse_qsl("v=" + item["raw"], keep_blank_values=True, errors="werkzeug.url_quote")[0][1]
            bad.append(Bad(item["id"], seen, item["raw"], frozenset(item["tags"])))
        else:
            bad.append(Bad(item["id"], _expand(item["value"]), None, frozenset(item["tags"])))
    return bad


BAD = load_bad_inputs()
assert len(EMAIL_321) == 321

# The tags each kind of field takes ("long" values also go into every text field).
TAGS = {
    "text": {"text", "long"},
    "long": {"text", "long"},
    "email": {"email"},
    "number": {"number"},
    "choice": {"choice"},
    "link": {"link"},
    "date": {"date"},
}


def kind_of(f: Field) -> str:
    """The kind of a field, from its control, name and options."""
    name = f.name.lower()
    if f.control in ("radio", "checkbox", "select") or (f.control == "hidden" and len(f.options) > 1):
        return "choice"
    if f.control == "textarea":
        return "long"
    if f.is_date_part or "time" in name.split("_"):
        return "date"
    if f.control == "email" or "email" in name:
        return "email"
    if f.control == "url" or "link" in name.split("_") or "url" in name.split("_"):
        return "link"
    if f.control == "number" or f.inputmode in ("numeric", "decimal"):
        return "number"
    return "text"


def inputs_for(f: Field) -> list[Bad]:
    return [item for item in BAD if item.tags & TAGS[kind_of(f)]]


VALID = "valid"  # the case with every field at a valid value
AS_FOUND = "(every field valid)"


# --- Small helpers -------------------------------------------------------------------------------------------


def clean(value: str) -> str:
    """What a form keeps of typed text: NFC, trimmed."""
    return unicodedata.normalize("NFC", value).strip()


def short(value) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:30]!r}…({len(value)} characters)"
    return repr(value)


def escaped(value: str) -> str:
    return str(markupsafe.escape(value))


MARKUP_FROM_INPUT = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
_NEWLINES = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
FORMULA_STARTS = ("=", "+", "-", "@")


def one_line(value: str) -> str:
    return _NEWLINES.sub(" ", value)


def csv_cell_problem(cell: str, value: str) -> str | None:
    """A CSV cell holds the value on one line; the formula guard may put a ' first, and must for = + - @."""
    flat = one_line(value)
    if cell not in (flat, "'" + flat):
        return f"holds {short(cell)}, not {short(flat)}"
    if flat.lstrip(" ").startswith(FORMULA_STARTS) and not cell.startswith("'"):
        return f"holds {short(cell)}, which a spreadsheet would run as a formula"
    return None


def xlsx_cell_problem(cell, value) -> str | None:
    if cell is None:
        cell = ""
    if isinstance(value, int):
        return None if cell == value or cell == str(value) else f"holds {short(cell)}, not {value!r}"
    if cell not in (value, one_line(value)):
        return f"holds {short(cell)}, not {short(value)}"
    return None


def error_marks(body: str) -> tuple[set[str], set[str]]:
    """(ids of the fields with an error message, fields the error summary links to)."""
    messages = set(re.findall(r'class="nhsuk-error-message" id="([^"]+)-error"', body))
    links = set()
    for summary in re.findall(r'nhsuk-error-summary__list">(.*?)</ul>', body, re.S):
        links.update(re.findall(r'<a href="#([^"]+)"', summary))
    return messages, links


def flashed_error(body: str) -> bool:
    return "nhsuk-error-summary" in body


def address_of(message) -> list[str]:
    addresses = []
    for _, address in getaddresses([str(value) for value in message.get_all("To", [])]):
        local, _, domain = address.rpartition("@")
        with contextlib.suppress(UnicodeError, ValueError):
            domain = domain.encode("ascii").decode("idna")
        addresses.append(f"{local}@{domain}".lower())
    return addresses


def bodies(message) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return (text.get_content() if text else ""), (html.get_content() if html else "")


# --- One app, one world, one mail server for the module ---------------------------------------------------------


@dataclass
class Target:
    """A fresh booking, session or link for one submission: the URL arguments to use, and what to check later."""

    args: dict = field(default_factory=dict)
    ctx: dict = field(default_factory=dict)


@dataclass
class Sub:
    """One submission of one value (or of every field valid) to one form, plain or by htmx."""

    endpoint: str
    field: str  # the field under test, or AS_FOUND
    bad: Bad | None  # None: every field at a valid value
    mode: str  # "plain" or "htmx"
    n: int
    target: Target = field(default_factory=Target)
    form: Form | None = None
    sent: dict = field(default_factory=dict)  # name -> [values as the server sees them]
    response_status: int | None = None
    accepted: bool = False
    problems: list = field(default_factory=list)

    @property
    def case(self) -> tuple[str, str]:
        return self.field, self.bad.id if self.bad else VALID

    def value(self, name: str) -> str:
        values = self.sent.get(name) or [""]
        return values[0]

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.mode}: {text}")


class Env:
    def __init__(self, app, world, smtp, found, pages):
        self.app = app
        self.world = world
        self.smtp = smtp
        self.found = found
        self.chosen = choose(found)
        # The htmx POST comes from an element with hx-post (on the form's own page if it has one, else wherever
        # one is, such as a row's button on the roster), when that posts the same fields.
        self.chosen_hx = {}
        for endpoint, item in self.chosen.items():
            variants = [
                f for f in found if f.endpoint == endpoint and f.form.hx and set(f.form.fields) == set(item.form.fields)
            ]
            variants.sort(key=lambda f: (f.page_endpoint != endpoint, f.visitor != item.visitor))
            self.chosen_hx[endpoint] = variants[0] if variants else item
        self.crawled_pages = pages
        self.requests = pages
        self.counter = 0
        self.clients: dict[str, BrowserLikeClient] = {}
        self.adapter = app.url_map.bind("localhost")
        self.timings: dict[str, tuple[float, int, int]] = {}
        self.results: dict[str, dict] = {}
        self.accepted: dict[str, int] = {}
        self.outcomes: dict[str, dict[str, str]] = {}
        self.fresh_sessions: list[int] = []  # made for the submission under way; retired once it is checked
        with app.app_context():
            self.other_organisation = db.session.scalar(sa.select(Organisation.id).where(Organisation.is_other))
            self.programme_id = db.session.scalar(sa.select(Programme.id))

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def client(self, visitor: str) -> BrowserLikeClient:
        """A signed-in client per staff role, kept for the module; a new one for each anonymous visit."""
        if visitor == "anonymous":
            return self.app.test_client()
        if visitor not in self.clients:
            client = self.app.test_client()
            sign_in(client, self.world.staff[visitor])
            self.requests += 2
            self.clients[visitor] = client
        return self.clients[visitor]

    def get(self, client, url, **kwargs):
        self.requests += 1
        return client.get(url, **kwargs)

    def download(self, client, url) -> tuple[int, bytes]:
        """A file, read and closed (an XLSX is sent from a temporary file)."""
        response = self.get(client, url)
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    def post(self, client, url, **kwargs):
        self.requests += 1
        return client.post(url, **kwargs)

    def build(self, endpoint: str, values: dict) -> str:
        rule = next(r for r in self.app.url_map.iter_rules() if r.endpoint == endpoint)
        with self.app.test_request_context():
            return self.adapter.build(endpoint, {k: v for k, v in values.items() if k in rule.arguments})

    def session(self, starts_at=None, *, days=None, capacity=20, **columns) -> int:
        """A fresh training session (committed); by default 30 days ahead at 10:30."""
        with self.app.app_context():
            if starts_at is None:
                day = (utcnow() + timedelta(days=days or 30)).astimezone(LONDON).date()
                starts_at = london(day, 10, 30)
            training_session = TrainingSession(
                programme_id=self.programme_id,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=90),
                capacity=capacity,
                kind=columns.pop("kind", SessionKind.VOLUNTEER_TRAINING),
                trainer_name=columns.pop("trainer_name", "Sam Okafor"),
                joining_link=columns.pop("joining_link", TEAMS),
                **columns,
            )
            db.session.add(training_session)
            db.session.commit()
            self.fresh_sessions.append(training_session.id)
            return training_session.id

    def booking(self, session_id: int, status=BookingStatus.BOOKED, *, link=None, **kw) -> tuple[int, str | None]:
        """A fresh booking (and volunteer) on a session, and a personal link of `link` purpose if asked."""
        with self.app.app_context():
            training_session = db.session.get(TrainingSession, session_id)
            booking = add_booking(training_session, self.next() + 100_000, status, **kw)
            token = issue_link(booking, link) if link else None
            db.session.commit()
            return booking.id, token

    def deliver_mail(self) -> None:
        """Send everything queued, as `flask mail deliver` does from cron."""
        wait_for_mail(self.app)
        runner = self.app.test_cli_runner()
        for _ in range(50):
            with self.app.app_context():
                due = db.session.scalar(
                    sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.status == EmailStatus.QUEUED)
                )
            if not due:
                wait_for_mail(self.app)
                return
            result = runner.invoke(args=["mail", "deliver"])
            assert result.exit_code == 0, result.output
        raise AssertionError("mail is still queued after 50 deliveries")

    def messages_to(self, address: str) -> list:
        address = clean(address).lower()
        return [m for m in list(self.smtp.messages) if address in address_of(m)]


def addr(n: int) -> str:
    """A client address of its own for each submission, so the sign-in and lost-link limits never mix cases."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


# --- Submitting a form ----------------------------------------------------------------------------------------


def merge(forms: list[Form]) -> Form:
    """Several forms on one page that post to one address (Attended / Did not attend) are one form whose
    hidden field takes any of their values."""
    first = forms[0]
    fields = {
        name: Field(f.name, f.control, f.id, f.value, list(f.options), list(f.checked), f.inputmode)
        for name, f in first.fields.items()
    }
    for other in forms[1:]:
        for name, f in other.fields.items():
            mine = fields.setdefault(name, f)
            if mine is not f and f.control == "hidden":
                for value in {mine.value, f.value} - set(mine.options):
                    mine.options.append(value)
    for f in fields.values():
        if f.control == "hidden" and len(f.options) > 1 and f.value not in f.options:
            f.options.insert(0, f.value)
    return Form(
        first.action, first.page, any(f.hx for f in forms), first.hx_target, fields, first.csrf, first.header_token
    )


GENERIC_VALID = {
    "phone": "",
    "organisation_other": "",
    "role": "Library assistant",
    "start_time": "10:30",
    "end_time": "12:00",
    "capacity": "16",
    "trainer_name": "Sam Okafor",
    "joining_link": TEAMS,
    "cutoff_days": "",
    "conversations": "3",
}


def default_valid(f: Field) -> list[str]:
    if f.control in ("radio", "select") or (f.control == "hidden" and len(f.options) > 1):
        options = [o for o in f.options if o]
        return [f.checked[0]] if f.checked else options[:1]
    if f.control == "checkbox":
        return f.options[:1]  # tick the box, or the first of several
    if f.value:
        return [f.value]
    if f.name in GENERIC_VALID:
        return [GENERIC_VALID[f.name]]
    if f.control == "textarea":
        return ["I will ask people how they are, and mention Live Well Oxfordshire."]
    raise AssertionError(f"no valid value known for the field {f.name!r}: add one to GENERIC_VALID or the form's plan")


def encode(values: dict[str, list[str]], *, csrf: str | None, raw: tuple[str, str] | None) -> bytes:
    pairs = [("csrf_token", quote_plus(csrf))] if csrf else []
    for name, items in values.items():
        for item in items:
            encoded = raw[1] if raw is not None and name == raw[0] else quote_plus(item)
            pairs.append((quote_plus(name), encoded))
    return "&".join(f"{k}={v}" for k, v in pairs).encode("ascii")


def submit(env: Env, plan: "Plan", endpoint: str, field_name: str, bad: Bad | None, mode: str) -> Sub:
    found = env.chosen_hx[endpoint] if mode == "htmx" else env.chosen[endpoint]
    sub = Sub(endpoint, field_name, bad, mode, env.next())
    try:
        sub.target = plan.fresh(env, sub)
        client = plan.client(env, sub)
        page_url = env.build(found.page_endpoint, {**found.page_args, **sub.target.args})
        action_path = env.build(endpoint, {**found.args, **sub.target.args})
        page = env.get(client, page_url)
        if page.status_code != 200:
            sub.problem(f"the form's page {page_url} answered {page.status_code}")
            return sub
        forms = [f for f in read_forms(page_url, page.text) if f.path == action_path]
        if not forms:
            sub.problem(f"{page_url} has no form that posts to {action_path}")
            return sub
        form = sub.form = merge(forms)
        values = {f.name: plan.valid(env, sub, f) or default_valid(f) for f in form.fields.values()}
        if bad is not None:
            values.update(plan.companions(env, sub))
            values[field_name] = [bad.value]
        sub.sent = {name: list(items) for name, items in values.items()}
        headers = {}
        if mode == "htmx":
            headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost" + page_url}
            if form.hx_target:
                headers["HX-Target"] = form.hx_target.lstrip("#")
            if form.header_token:
                headers["X-CSRFToken"] = form.header_token
        elif not form.csrf:
            sub.problem(f"the form on {page_url} has no CSRF field")
        body = encode(values, csrf=form.csrf, raw=(field_name, bad.raw) if bad is not None and bad.raw else None)
        plan.before(env, sub)
        response = env.post(
            client,
            forms[0].action,
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
            environ_base={"REMOTE_ADDR": addr(sub.n)},
        )
        judge(env, plan, sub, response, client)
    except Exception as error:
        sub.problem(f"exception: {type(error).__name__}: {short(str(error))}")
    finally:
        for session_id in env.fresh_sessions:
            _retire(env, session_id)
        env.fresh_sessions.clear()
    return sub


def check_markup(sub: Sub, body: str, where: str) -> None:
    for markup in MARKUP_FROM_INPUT:
        if markup in body:
            sub.problem(f"{where} has the input's markup unescaped: {markup}")


def judge(env: Env, plan: "Plan", sub: Sub, response, client) -> None:
    code = sub.response_status = response.status_code
    if code >= 500:
        sub.problem(f"answered {code}")
        return
    body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
    check_markup(sub, body, "the answer")
    if code >= 400:
        sub.problem(f"answered {code}, not the form with an error next to the field")
        return
    messages, links = error_marks(body)
    if sub.bad is not None and sub.field != AS_FOUND:
        wanted = plan.error_ids(sub.form, sub.field)
        if wanted & messages and wanted & links:
            if plan.happened(env, sub):
                sub.problem("refused with an error next to the field, and yet stored")
            title = re.search(r"<title>(.*?)</title>", body, re.S)
            if (sub.mode == "plain" or title) and not (title and title.group(1).strip().startswith("Error:")):
                sub.problem("refused, but the page title does not start with 'Error:'")
            return
    if messages or links:
        where = sorted(messages | links)
        if sub.bad is None:
            sub.problem(f"every field valid, yet refused with errors next to {where}")
        elif not (plan.error_ids(sub.form, sub.field) & messages):
            sub.problem(f"refused with errors next to {where}, not next to {sub.field!r}")
        else:
            sub.problem(f"the error next to {sub.field!r} is not in the error summary (it links to {sorted(links)})")
        return
    plan.complete(env, sub, response, client)
    if sub.problems:
        return
    if not plan.happened(env, sub):
        if sub.bad is not None and plan.hidden(sub):
            if not flashed_error(body) and not _flash_after(env, client, response):
                sub.problem("a bad value for a hidden field was ignored without a message")
            return
        location = response.headers.get("Location") or response.headers.get("HX-Location") or ""
        title = re.search(r"<title>(.*?)</title>", body, re.S)
        said = f" “{' '.join(title.group(1).split())}”" if title else ""
        sub.problem(f"neither refused with an error next to the field nor stored (answered {code}{said} {location})")
        return
    sub.accepted = True
    plan.verify(env, sub, client)


def _flash_after(env: Env, client, response) -> bool:
    location = response.headers.get("Location")
    if not location:
        return False
    page = env.get(client, location)
    return flashed_error(page.get_data(as_text=True))


# --- What each form stores, and where it shows ----------------------------------------------------------------


def truth(value: str) -> bool:
    """A ticked box: any value but the false ones (WTForms BooleanField with false_values "", "false", "0")."""
    return value not in ("", "false", "0")


def compare(sub: Sub, where: str, name: str, stored, expected) -> None:
    if stored != expected:
        sub.problem(f"{where}: {name} is {short(stored)}, not {short(expected)}")


def shows(sub: Sub, where: str, body: str, label: str, value: str | None) -> None:
    """The page shows the value, escaped (a <wbr> line-break hint aside)."""
    if value and escaped(value) not in body.replace("<wbr>", ""):
        sub.problem(f"{where} does not show the {label} {short(value)} (escaped)")


def location_of(response) -> str | None:
    location = response.headers.get("Location") or response.headers.get("HX-Location")
    if location and location.startswith("{"):
        location = json.loads(location).get("path")
    return location and urlsplit(location).path


class Plan:
    """What one form needs: a fresh target per submission, valid values, how to tell it was stored, and where
    accepted values go. `fields` names every field the form has, with where its value ends up."""

    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env: Env, sub: Sub) -> Target:
        return Target()

    def client(self, env: Env, sub: Sub):
        return sub.target.ctx.get("client") or env.client(env.chosen[sub.endpoint].visitor)

    def valid(self, env: Env, sub: Sub, f: Field) -> list[str] | None:
        return None

    def companions(self, env: Env, sub: Sub) -> dict[str, list[str]]:
        return {}

    def error_ids(self, form: Form, name: str) -> set[str]:
        f = form.fields[name]
        if f.is_date_part:
            prefix = name.rsplit("_", 1)[0] if "_" in name else ""
            day = form.fields.get(f"{prefix}_day" if prefix else "day")
            if day is not None:
                return {day.id or day.name}
        return {f.id or f.name}

    def hidden(self, sub: Sub) -> bool:
        return sub.form.fields[sub.field].control == "hidden"

    def before(self, env: Env, sub: Sub) -> None:
        pass

    def complete(self, env: Env, sub: Sub, response, client) -> None:
        sub.target.ctx["redirected"] = location_of(response) is not None
        sub.target.ctx["response"] = response

    def happened(self, env: Env, sub: Sub) -> bool:
        raise NotImplementedError

    def verify(self, env: Env, sub: Sub, client) -> None:
        pass

    def batch(self, env: Env, subs: list[Sub]) -> None:
        pass


def _retire(env: Env, session_id: int) -> None:
    """Take a fresh session out of every list of sessions to come once its case is checked (no email: a direct
    update), so the pages that list them stay the size they were. It is moved long into the past, not
    cancelled: a session held, so its bookings and answers stay in the pilot review and the responses
    download, where the batched checks look for them."""
    long_ago = utcnow() - timedelta(days=800)
    with env.app.app_context():
        db.session.execute(
            sa.update(TrainingSession)
            .where(TrainingSession.id == session_id)
            .values(starts_at=long_ago, ends_at=long_ago + timedelta(minutes=90))
        )
        db.session.commit()


def _booking(env: Env, booking_id: int) -> Booking:
    with env.app.app_context():
        booking = db.session.get(Booking, booking_id)
        db.session.expunge(booking)
        return booking


def _emails(env: Env, **where) -> list[OutgoingEmail]:
    with env.app.app_context():
        query = sa.select(OutgoingEmail).order_by(OutgoingEmail.id)
        for column, value in where.items():
            query = query.where(getattr(OutgoingEmail, column) == value)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def _read_csv(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _read_xlsx(data: bytes) -> list[dict]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header = next(sheet.iter_rows(values_only=True))
    # A read-only row ends at its last filled cell: read every row as wide as the header.
    rows = sheet.iter_rows(min_row=2, max_col=len(header), values_only=True)
    return [dict(zip(header, row, strict=False)) for row in rows]


def check_mail(env: Env, sub: Sub, address: str, what: dict[str, str | None], *, template: str = "") -> None:
    """A message reached the real SMTP server for the address, with each value in its text and, escaped, in its
    HTML; no header was injected."""
    messages = env.messages_to(address)
    if not messages:
        sub.problem(f"no email {template} reached {short(address)}")
        return
    for label, value in what.items():
        if not value:
            continue
        if not any(value in bodies(m)[0] for m in messages):
            sub.problem(f"the email to {short(address)} does not have the {label} {short(value)} in its text")
        if not any(escaped(value) in bodies(m)[1] for m in messages):
            sub.problem(f"the email to {short(address)} does not have the {label} {short(value)} (escaped) in its HTML")
    for message in messages:
        if message.get("Bcc") or any("victim@example.com" in a for a in address_of(message)):
            sub.problem("an email carries a header injected from the input")
        check_markup(sub, bodies(message)[1], "an email's HTML")


# --- Admin: staff accounts, the lists, programme settings ------------------------------------------------------


def _new_staff(env: Env, sub: Sub, *, active=True, second_factor=False, password=True) -> int:
    """A fresh staff account (never a visitor's own), committed."""
    from mecc_volunteer.auth.services import create_staff

    with env.app.app_context(), staff_password_hashed_once():
        email, name = f"forms.staff.{sub.n}@example.org", f"Forms Staff {sub.n}"
        if password:
            staff = create_staff(email, name=name, role=StaffRole.COORDINATOR, password=STAFF_PASSWORD)
        else:
            staff = StaffUser(email=email, name=name, role=StaffRole.COORDINATOR)
            db.session.add(staff)
        staff.active = active
        if second_factor:
            staff.totp_secret, staff.totp_confirmed_at = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", utcnow()
        db.session.commit()
        return staff.id


def _staff(env: Env, staff_id: int) -> StaffUser:
    with env.app.app_context():
        staff = db.session.get_one(StaffUser, staff_id)
        db.session.expunge(staff)
        return staff


def _max_id(env: Env, model) -> int:
    with env.app.app_context():
        return db.session.scalar(sa.select(sa.func.max(model.id))) or 0


class InviteStaffPlan(Plan):
    """admin.invite_staff: a fresh name and address each time; the account, the staff list and the invitation."""

    fields: ClassVar[dict[str, str]] = {
        "name": "the person's name: database, staff list, invitation email",
        "email": "their address: database (lower case), staff list, where the invitation goes",
        "role": "database",
    }

    def fresh(self, env, sub):
        return Target({}, {"name": f"Forms Invitee {sub.n}", "email": f"forms.invitee.{sub.n}@example.org"})

    def valid(self, env, sub, f):
        return [sub.target.ctx[f.name]] if f.name in ("name", "email") else None

    def before(self, env, sub):
        sub.target.ctx["last_id"] = _max_id(env, StaffUser)

    def _invited(self, env, sub) -> StaffUser | None:
        with env.app.app_context():
            staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.id > sub.target.ctx["last_id"]))
            if staff is not None:
                db.session.expunge(staff)
            return staff

    def happened(self, env, sub):
        return self._invited(env, sub) is not None

    def verify(self, env, sub, client):
        staff = self._invited(env, sub)
        name, email = clean(sub.value("name")), clean(sub.value("email")).lower()
        compare(sub, "the database", "name", staff.name, name)
        compare(sub, "the database", "email", staff.email, email)
        compare(sub, "the database", "role", staff.role.value, sub.value("role"))
        compare(sub, "the database", "password_hash", staff.password_hash, None)
        page = env.get(client, "/manage/admin/staff/").get_data(as_text=True)
        check_markup(sub, page, "the staff list")
        shows(sub, "the staff list", page, "name", name)
        shows(sub, "the staff list", page, "email", email)
        sub.target.ctx.update(name=name, email=email)

    def batch(self, env, subs):
        env.deliver_mail()
        for sub in subs:
            if sub.accepted and "email" in sub.target.ctx:
                check_mail(env, sub, sub.target.ctx["email"], {"name": sub.target.ctx["name"]}, template="invitation")


class ChangeRolePlan(Plan):
    """admin.change_role: a fresh coordinator made an evaluator (or whatever role is sent)."""

    fields: ClassVar[dict[str, str]] = {"role": "database, the account's page"}

    def fresh(self, env, sub):
        return Target({"staff_id": _new_staff(env, sub)})

    def valid(self, env, sub, f):
        return [StaffRole.EVALUATOR.value] if f.name == "role" else None

    def happened(self, env, sub):
        return sub.target.ctx.get("redirected", False)

    def verify(self, env, sub, client):
        compare(sub, "the database", "role", _staff(env, sub.target.args["staff_id"]).role.value, sub.value("role"))


class StaffActionPlan(Plan):
    """A one-button action on a fresh account in the state the action needs."""

    fields: ClassVar[dict[str, str]] = {}
    account: ClassVar[dict] = {}

    def fresh(self, env, sub):
        staff_id = _new_staff(env, sub, **self.account)
        return Target({"staff_id": staff_id}, {"before": _staff(env, staff_id)})

    def after(self, env, sub) -> StaffUser:
        return _staff(env, sub.target.args["staff_id"])


class DeactivatePlan(StaffActionPlan):
    def happened(self, env, sub):
        return not self.after(env, sub).active


class ReactivatePlan(StaffActionPlan):
    account: ClassVar[dict] = {"active": False}

    def happened(self, env, sub):
        return self.after(env, sub).active


class ResetSecondFactorPlan(StaffActionPlan):
    account: ClassVar[dict] = {"second_factor": True}

    def happened(self, env, sub):
        return self.after(env, sub).totp_secret is None


class SignOutEverywherePlan(StaffActionPlan):
    def happened(self, env, sub):
        return self.after(env, sub).session_version != sub.target.ctx["before"].session_version


class PasswordLinkPlan(StaffActionPlan):
    def happened(self, env, sub):
        with env.app.app_context():
            return (
                db.session.scalar(sa.select(StaffLink.id).where(StaffLink.staff_user_id == sub.target.args["staff_id"]))
                is not None
            )


NEW_STAFF_PASSWORD = "a new and long password"


class SetPasswordPlan(Plan):
    """auth.set_password: an invited account with a fresh link each time; the password typed twice."""

    fields: ClassVar[dict[str, str]] = {
        "password": "never shown: its hash in the database (checked against what was typed)",
        "confirm_password": "must match the password; never stored",
    }

    def fresh(self, env, sub):
        from mecc_volunteer.auth.staff_links import issue_staff_link

        staff_id = _new_staff(env, sub, password=False)
        with env.app.app_context():
            _, token = issue_staff_link(db.session.get_one(StaffUser, staff_id), StaffLinkPurpose.INVITATION)
            db.session.commit()
        return Target({"token": token}, {"staff_id": staff_id})

    def valid(self, env, sub, f):
        return [NEW_STAFF_PASSWORD]

    def companions(self, env, sub):
        # A password is typed twice: the second box holds the same bad value, so the first's own rules answer.
        return {"confirm_password": [sub.bad.value]} if sub.field == "password" and sub.bad else {}

    def happened(self, env, sub):
        return _staff(env, sub.target.ctx["staff_id"]).password_hash is not None

    def verify(self, env, sub, client):
        from werkzeug.security import check_password_hash

        stored = _staff(env, sub.target.ctx["staff_id"]).password_hash or ""
        if not check_password_hash(stored, sub.value("password")):
            sub.problem(f"the stored password is not the one typed, {short(sub.value('password'))}")


class ReferencePlan(Plan):
    """The admin's lists: organisations, organisation types, areas. `model` is the table, `arg` the URL argument
    naming a row. Rows made for a case are deleted once the form's cases are checked (nothing refers to them)."""

    model: ClassVar[type] = Organisation
    arg: ClassVar[str] = "organisation_id"
    list_path: ClassVar[str] = "/manage/admin/organisations/"

    def __init__(self):
        self.made: list[int] = []

    def new_row(self, env, sub, label: str, **columns) -> int:
        with env.app.app_context():
            sort_order = (db.session.scalar(sa.select(sa.func.max(self.model.sort_order))) or 0) + 1
            row = self.model(name=f"Forms {label} {sub.n}", sort_order=sort_order, **columns)
            if self.model is Organisation:
                row.organisation_type = db.session.scalar(
                    sa.select(OrganisationType).where(OrganisationType.name == "Forms type")
                )
            db.session.add(row)
            db.session.commit()
            self.made.append(row.id)
            return row.id

    def row(self, env, row_id: int):
        with env.app.app_context():
            row = db.session.get_one(self.model, row_id)
            db.session.expunge(row)
            return row

    def batch(self, env, subs):
        with env.app.app_context():
            db.session.execute(sa.delete(self.model).where(self.model.id.in_(self.made)))
            db.session.commit()
        self.made.clear()


class AddReferencePlan(ReferencePlan):
    """Add a row: a fresh name each time; it is stored, trimmed, and shown on the list."""

    @property
    def fields(self):
        fields = {"name": "the row's name: database, the admin's list, the registration form"}
        if self.model is Organisation:
            fields["organisation_type"] = "database, the admin's list"
        return fields

    def fresh(self, env, sub):
        return Target({}, {"name": f"Forms new row {sub.n}"})

    def valid(self, env, sub, f):
        return [sub.target.ctx["name"]] if f.name == "name" else None

    def before(self, env, sub):
        sub.target.ctx["last_id"] = _max_id(env, self.model)

    def _added(self, env, sub):
        with env.app.app_context():
            return db.session.scalar(sa.select(self.model.id).where(self.model.id > sub.target.ctx["last_id"]))

    def happened(self, env, sub):
        added = self._added(env, sub)
        if added is not None and added not in self.made:
            self.made.append(added)
        return added is not None

    def verify(self, env, sub, client):
        row = self.row(env, self._added(env, sub))
        compare(sub, "the database", "name", row.name, clean(sub.value("name")))
        if self.model is Organisation:
            compare(sub, "the database", "type", str(row.organisation_type_id), sub.value("organisation_type"))
        page = env.get(client, self.list_path).get_data(as_text=True)
        check_markup(sub, page, "the admin's list")
        shows(sub, "the admin's list", page, "name", clean(sub.value("name")))


class EditReferencePlan(ReferencePlan):
    """Rename a fresh row (and, for an organisation, change its type)."""

    @property
    def fields(self):
        fields = {"name": "the row's name: database, the admin's list"}
        if self.model is Organisation:
            fields["organisation_type"] = "database"
        return fields

    def fresh(self, env, sub):
        return Target({self.arg: self.new_row(env, sub, "edit")})

    def happened(self, env, sub):
        return sub.target.ctx.get("redirected", False)

    def verify(self, env, sub, client):
        row = self.row(env, sub.target.args[self.arg])
        compare(sub, "the database", "name", row.name, clean(sub.value("name")))
        if self.model is Organisation:
            compare(sub, "the database", "type", str(row.organisation_type_id), sub.value("organisation_type"))
        page = env.get(client, self.list_path).get_data(as_text=True)
        check_markup(sub, page, "the admin's list")
        shows(sub, "the admin's list", page, "name", clean(sub.value("name")))


class MoveReferencePlan(ReferencePlan):
    """Move a fresh row up or down: two rows are made at the end, and the first of them moves."""

    fields: ClassVar[dict[str, str]] = {"direction": "the row's place in the list: database (sort order)"}

    def fresh(self, env, sub):
        first = self.new_row(env, sub, "move a")
        self.new_row(env, sub, "move b")
        return Target({self.arg: first})

    def position(self, env, sub) -> int:
        with env.app.app_context():
            ids = list(
                db.session.scalars(
                    sa.select(self.model.id).order_by(self.model.sort_order, self.model.name, self.model.id)
                )
            )
        return ids.index(sub.target.args[self.arg])

    def before(self, env, sub):
        sub.target.ctx["position"] = self.position(env, sub)

    def happened(self, env, sub):
        return self.position(env, sub) != sub.target.ctx["position"]

    def verify(self, env, sub, client):
        moved = self.position(env, sub) - sub.target.ctx["position"]
        compare(sub, "the database", "move", moved, -1 if sub.value("direction") == "up" else 1)


class RetireReferencePlan(ReferencePlan):
    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        return Target({self.arg: self.new_row(env, sub, "retire")})

    def happened(self, env, sub):
        return self.row(env, sub.target.args[self.arg]).retired_at is not None


class RestoreReferencePlan(ReferencePlan):
    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        return Target({self.arg: self.new_row(env, sub, "restore", retired_at=utcnow())})

    def happened(self, env, sub):
        return self.row(env, sub.target.args[self.arg]).retired_at is None


def reference_plans(model, arg: str, list_path: str, prefix: str) -> dict[str, Plan]:
    """The five forms of one admin list, each plan told which table and URL argument it works on."""
    plans = {}
    for action, plan_class in (
        ("add", AddReferencePlan),
        ("edit", EditReferencePlan),
        ("move", MoveReferencePlan),
        ("retire", RetireReferencePlan),
        ("restore", RestoreReferencePlan),
    ):
        plan = type(
            f"{plan_class.__name__}For{model.__name__}",
            (plan_class,),
            {"model": model, "arg": arg, "list_path": list_path},
        )()
        plans[f"admin.{action}_{prefix}"] = plan
    return plans


SETTINGS_FIELDS = {
    name: f"database (the programme's row), the settings page{', every page header' if name == 'service_name' else ''}"
    for name in (
        "service_name",
        "organisation_name",
        "contact_email",
        "elearning_url",
        "signpost_name",
        "signpost_url",
        "cutoff_days",
        "late_promotion_hours",
        "evaluation_open_days",
        "evaluation_reminder_days",
        "followup_after_weeks",
        "joining_link_hosts",
        "retention_months",
        "privacy_notice_text",
        "privacy_notice_version",
        "disclosure_threshold",
    )
}


class SettingsPlan(Plan):
    """admin.settings: the programme's settings are put back before each case and after the last, so no other
    form meets a changed cut-off, host list or privacy notice."""

    fields = SETTINGS_FIELDS

    def __init__(self):
        self.saved: dict | None = None

    def restore(self, env) -> None:
        with env.app.app_context():
            row = db.session.scalar(sa.select(Programme).order_by(Programme.id))
            if self.saved is None:
                self.saved = {name: getattr(row, name) for name in SETTINGS_FIELDS}
            for name, value in self.saved.items():
                setattr(row, name, value)
            db.session.commit()

    def fresh(self, env, sub):
        self.restore(env)
        return Target()

    def happened(self, env, sub):
        return sub.target.ctx.get("redirected", False)

    def expected(self, sub) -> dict:
        from mecc_volunteer.admin.services import RANGES
        from mecc_volunteer.settings import hosts_from_text

        expected: dict = {}
        for name in SETTINGS_FIELDS:
            value = clean(sub.value(name))
            if name in RANGES:
                expected[name] = int(value)
            elif name == "joining_link_hosts":
                expected[name] = "\n".join(hosts_from_text(value))
            elif name == "privacy_notice_text":
                expected[name] = value or None
            else:
                expected[name] = value
        return expected

    def verify(self, env, sub, client):
        expected = self.expected(sub)
        with env.app.app_context():
            row = db.session.scalar(sa.select(Programme).order_by(Programme.id))
            stored = {name: getattr(row, name) for name in SETTINGS_FIELDS}
        for name, value in expected.items():
            compare(sub, "the database", name, stored[name], value)
        page = env.get(client, "/manage/admin/settings").get_data(as_text=True)
        check_markup(sub, page, "the settings page")
        for name, value in expected.items():
            if isinstance(value, str):
                shows(sub, "the settings page", page, name, value)

    def batch(self, env, subs):
        self.restore(env)


# --- Registration, and adding a volunteer by hand ---------------------------------------------------------------

PERSON = {
    "name": (
        "the volunteer's name: database, Check your answers, My booking, roster page, roster CSV, confirmation email"
    ),
    "email": "the volunteer's email: database, Check your answers, roster page, where the confirmation email goes",
    "phone": "database (UK format), Check your answers",
    "organisation": "database, roster page and CSV (as its name), responses CSV/XLSX",
    "organisation_other": "database, Check your answers, roster page and CSV when the organisation is Other",
    "role": "database, Check your answers",
    "district": "database, responses CSV/XLSX",
    "privacy_acknowledged": "database (when it was acknowledged)",
}


class RegistrationPlan(Plan):
    """volunteers.register (then Check your answers and confirm) and sessions.add_volunteer: a fresh session and
    a fresh name and address for each submission."""

    fields: ClassVar[dict[str, str]] = {
        **PERSON,
        "baseline_confidence": "baseline answer: database, responses CSV/XLSX",
        "baseline_knowledge": "baseline answer: database, responses CSV/XLSX",
        "age_band": "database",
        "gender": "database",
        "ethnic_group": "database",
        "disability": "database",
        "followup_consent": "database",
    }
    by_hand = False

    def fresh(self, env, sub):
        session_id = env.session(capacity=20)
        name, email = f"Form Tester {sub.n}", f"form.tester.{sub.n}@example.org"
        return Target({"session_id": session_id}, {"name": name, "email": email, "session_id": session_id})

    def valid(self, env, sub, f):
        if f.name in ("name", "email"):
            return [sub.target.ctx[f.name]]
        return None

    def companions(self, env, sub):
        return {"organisation": [str(env.other_organisation)]} if sub.field == "organisation_other" else {}

    def expected(self, env, sub) -> dict:
        v = sub.value
        with env.app.app_context():
            organisation = db.session.get(Organisation, int(v("organisation")))
            organisation_name = (
                clean(v("organisation_other"))
                if organisation.is_other and clean(v("organisation_other"))
                else organisation.name
            )
            district = None if v("district") == "outside" else int(v("district"))
        expected = {
            "name": clean(v("name")),
            "email": clean(v("email")),
            "phone": normalise_uk_phone(clean(v("phone"))) if clean(v("phone")) else None,
            "organisation": int(v("organisation")),
            "organisation_other": clean(v("organisation_other")) or None,
            "organisation_name": organisation_name,
            "list_organisation": organisation.name,
            "role": clean(v("role")),
            "district": district,
            "privacy_acknowledged": truth(v("privacy_acknowledged")),
        }
        if not self.by_hand:
            expected.update(
                baseline_confidence=str(int(v("baseline_confidence"))),
                baseline_knowledge=str(int(v("baseline_knowledge"))),
                age_band=v("age_band") or None,
                gender=v("gender") or None,
                ethnic_group=v("ethnic_group") or None,
                disability=v("disability") or None,
                followup_consent=truth(v("followup_consent")),
            )
        return expected

    def _volunteer(self, env, sub):
        email = clean(sub.value("email")).lower()
        if "\x00" in email:
            return None, None  # PostgreSQL cannot even compare text with a NUL in it: nothing can have stored it
        with env.app.app_context():
            volunteer = db.session.scalar(sa.select(Volunteer).where(Volunteer.email_normalised == email))
            if volunteer is None:
                return None, None
            booking = db.session.scalar(
                sa.select(Booking).where(
                    Booking.volunteer_id == volunteer.id, Booking.training_session_id == sub.target.ctx["session_id"]
                )
            )
            for row in (volunteer, booking):
                if row is not None:
                    db.session.expunge(row)
            return volunteer, booking

    def complete(self, env, sub, response, client):
        super().complete(env, sub, response, client)
        if self.by_hand:
            return
        check = location_of(response)
        if check is None:
            return
        if not check.endswith("/register/check"):
            sub.problem(f"accepted, then sent to {check}, not Check your answers")
            return
        page = env.get(client, check)
        body = page.get_data(as_text=True)
        check_markup(sub, body, "Check your answers")
        expected = self.expected(env, sub)
        for name in ("name", "email", "phone", "role"):
            shows(sub, "Check your answers", body, name, expected[name])
        if int(sub.value("organisation")) == env.other_organisation:
            shows(sub, "Check your answers", body, "organisation", expected["organisation_other"])
        done = env.post(client, check, data={"confirm": "yes"})
        if done.status_code != 303:
            sub.problem(f"confirming on Check your answers answered {done.status_code}")
            return
        page = env.get(client, done.headers["Location"])
        link = re.search(r'href="(?:http://localhost)?(/my-booking/[A-Za-z0-9_-]{43})"', page.get_data(as_text=True))
        if link is None:
            sub.problem("the confirmation page has no My booking link")
            return
        mine = env.get(client, link.group(1)).get_data(as_text=True)
        check_markup(sub, mine, "My booking")
        shows(sub, "My booking", mine, "name", expected["name"])

    def happened(self, env, sub):
        volunteer, booking = self._volunteer(env, sub)
        return volunteer is not None and booking is not None

    def verify(self, env, sub, client):
        volunteer, booking = self._volunteer(env, sub)
        expected = self.expected(env, sub)
        sub.target.ctx.update(booking_id=booking.id, expected=expected)
        stored = {
            "name": volunteer.name,
            "email": volunteer.email,
            "phone": volunteer.phone,
            "organisation": volunteer.organisation_id,
            "organisation_other": volunteer.organisation_other,
            "role": volunteer.role,
            "district": volunteer.district_id,
            "privacy_acknowledged": volunteer.privacy_acknowledged_at is not None,
        }
        if not self.by_hand:
            with env.app.app_context():
                answers = dict(
                    db.session.execute(
                        sa.select(EvaluationAnswer.question_key, EvaluationAnswer.value).where(
                            EvaluationAnswer.booking_id == booking.id, EvaluationAnswer.survey == Survey.BASELINE
                        )
                    ).all()
                )
            stored.update(
                baseline_confidence=answers.get("confidence"),
                baseline_knowledge=answers.get("knowledge"),
                age_band=volunteer.age_band,
                gender=volunteer.gender,
                ethnic_group=volunteer.ethnic_group,
                disability=volunteer.disability,
                followup_consent=volunteer.followup_consent,
            )
        for name, value in stored.items():
            compare(sub, "the database", name, value, expected[name])
        coordinator = env.client("coordinator")
        session_id = sub.target.ctx["session_id"]
        roster = env.get(coordinator, f"/manage/sessions/{session_id}/roster").get_data(as_text=True)
        check_markup(sub, roster, "the roster")
        shows(sub, "the roster", roster, "name", expected["name"])
        shows(sub, "the roster", roster, "email", expected["email"])
        shows(sub, "the roster", roster, "organisation", expected["organisation_name"])
        status, data = env.download(coordinator, f"/manage/sessions/{session_id}/roster.csv?status=all")
        if status != 200:
            sub.problem(f"the roster CSV answered {status}")
        else:
            rows = _read_csv(data)
            if len(rows) != 1:
                sub.problem(f"the roster CSV has {len(rows)} rows, not 1")
            else:
                for column, key in (("Name", "name"), ("Organisation", "organisation_name")):
                    problem = csv_cell_problem(rows[0][column], expected[key])
                    if problem:
                        sub.problem(f"the roster CSV's {column} {problem}")

    def batch(self, env, subs):
        accepted = [s for s in subs if s.accepted and "expected" in s.target.ctx]
        env.deliver_mail()
        for sub in accepted:
            expected = sub.target.ctx["expected"]
            check_mail(env, sub, expected["email"], {"name": expected["name"]}, template="confirming the booking")
        if self.by_hand or not accepted:
            return
        evaluator = env.client("evaluator")
        files = {}
        for name in ("responses.csv", "responses.xlsx"):
            status, data = env.download(evaluator, f"/manage/exports/{name}")
            if status != 200:
                for sub in accepted:
                    sub.problem(f"{name} answered {status}")
                return
            files[name] = _read_csv(data) if name.endswith(".csv") else _read_xlsx(data)
        with env.app.app_context():
            from mecc_volunteer.exports.services import respondent_code

            codes = {s.target.ctx["booking_id"]: respondent_code(s.target.ctx["booking_id"]) for s in accepted}
            districts = {d.id: d.name for d in db.session.scalars(sa.select(District))}
        for sub in accepted:
            expected = sub.target.ctx["expected"]
            want = {
                "organisation": expected["list_organisation"],
                "district": districts.get(expected["district"], ""),
                "baseline.confidence": int(expected["baseline_confidence"]),
                "baseline.knowledge": int(expected["baseline_knowledge"]),
            }
            for name, rows in files.items():
                row = next((r for r in rows if r.get("respondent") == codes[sub.target.ctx["booking_id"]]), None)
                if row is None:
                    sub.problem(f"{name} has no row for the registration")
                    continue
                for column, value in want.items():
                    if name.endswith(".csv"):
                        problem = csv_cell_problem(row[column], str(value))
                    else:
                        problem = xlsx_cell_problem(row[column], value if value != "" else "")
                    if problem:
                        sub.problem(f"{name}'s {column} {problem}")


class AddVolunteerPlan(RegistrationPlan):
    fields = PERSON
    by_hand = True


class CheckAnswersPlan(Plan):
    """volunteers.check_answers: confirm a registration part-way through (one button)."""

    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        session_id = env.session(capacity=20)
        client = env.app.test_client()
        email = f"check.answers.{sub.n}@example.org"
        register_part_way(client, session_id, email)
        env.requests += 2
        return Target({"session_id": session_id}, {"client": client, "session_id": session_id, "email": email})

    def happened(self, env, sub):
        with env.app.app_context():
            return (
                db.session.scalar(
                    sa.select(Booking.id)
                    .join(Volunteer)
                    .where(
                        Volunteer.email_normalised == sub.target.ctx["email"],
                        Booking.training_session_id == sub.target.ctx["session_id"],
                    )
                )
                is not None
            )


def register_part_way(client, session_id: int, email: str) -> None:
    """Fill in the registration form validly and post it: the answers wait on Check your answers."""
    page = client.get(f"/sessions/{session_id}/register")
    form = next(f for f in read_forms(page.request.path, page.get_data(as_text=True)) if f.path.endswith("/register"))
    values = {f.name: default_valid(f) if f.name not in ("name", "email") else [] for f in form.fields.values()}
    values.update(name=["Check Answers"], email=[email])
    response = client.post(form.action, data=values)
    assert response.status_code == 303, f"a valid registration answered {response.status_code}"


class LostLinkPlan(Plan):
    """volunteers.lost_link: a volunteer with the address (when one can exist) gets a new link by email."""

    fields: ClassVar[dict[str, str]] = {
        "email": "the address: the page says where the link went; the your-link email goes there"
    }

    def fresh(self, env, sub):
        email = clean(sub.bad.value) if sub.bad else f"lost.link.{sub.n}@example.org"
        # A volunteer with the address, so that an accepted address gets its email (if the database can hold it).
        if email and len(email) <= 254 and "\x00" not in email:
            with env.app.app_context():
                exists = db.session.scalar(sa.select(Volunteer.id).where(Volunteer.email_normalised == email.lower()))
            if exists is None:
                env.booking(env.world.sessions["open"], email=email)
        return Target({}, {"email": email})

    def valid(self, env, sub, f):
        return [sub.target.ctx["email"]] if f.name == "email" else None

    def before(self, env, sub):
        sub.target.ctx["queued_before"] = len(_emails(env, template="your_link"))

    def happened(self, env, sub):
        return len(_emails(env, template="your_link")) > sub.target.ctx["queued_before"]

    def verify(self, env, sub, client):
        body = sub.target.ctx["response"].get_data(as_text=True)
        shows(sub, "the lost-link page", body, "email", clean(sub.value("email")))
        queued = _emails(env, template="your_link")[-1]
        compare(sub, "the outbox", "to_address", queued.to_address.lower(), clean(sub.value("email")).lower())

    def batch(self, env, subs):
        env.deliver_mail()
        for sub in subs:
            if sub.accepted:
                check_mail(env, sub, clean(sub.value("email")), {}, template="with a new link")


class SignInPlan(Plan):
    fields: ClassVar[dict[str, str]] = {
        "email": "never stored: it signs in or not",
        "password": "never stored: it signs in or not",
    }

    def fresh(self, env, sub):
        return Target({}, {"client": env.app.test_client()})

    def valid(self, env, sub, f):
        return {"email": [env.sign_in_email], "password": [STAFF_PASSWORD]}.get(f.name)

    def error_ids(self, form, name):
        # A wrong password gets the one answer for every failed sign-in, next to the email address (it does not
        # say which of the two was wrong).
        return {"password", "email"} if name == "password" else super().error_ids(form, name)

    def happened(self, env, sub):
        # A right password leads on to the second step (the code, or setting up the app), not into /manage/.
        location = location_of(sub.target.ctx["response"]) if "response" in sub.target.ctx else None
        return bool(location) and urlsplit(location).path in (SECOND_STEP, ENROLMENT)

    def verify(self, env, sub, client):
        if sub.bad is not None:
            sub.problem("signed in with a bad value")


SECOND_STEP = "/manage/sign-in/code"
ENROLMENT = "/manage/sign-in/set-up-authenticator"


def _account_part_way_signed_in(env, sub, *, enrolled: bool) -> str:
    """A staff account of its own for one submission (the brake on wrong codes is per account); its password
    hash is the run's one hash of STAFF_PASSWORD (tests.helpers.staff_password_hash)."""
    from mecc_volunteer.models import StaffRole, StaffUser

    email = f"second-step-{sub.n}@example.org"
    with env.app.app_context():
        staff = StaffUser(
            email=email, name="Second step", role=StaffRole.COORDINATOR, password_hash=staff_password_hash()
        )
        if enrolled:
            staff.totp_secret, staff.totp_confirmed_at = STAFF_TOTP_SECRET, utcnow()
        db.session.add(staff)
        db.session.commit()
    return email


class SecondStepPlan(Plan):
    """The code after the password (and the first code, which sets up the app): a fresh account and browser
    per submission, part-way through signing in. A bad value never signs in."""

    fields: ClassVar[dict[str, str]] = {"code": "never stored: it signs in or not (its time step is kept)"}
    enrolled = True

    def fresh(self, env, sub):
        client = env.app.test_client()
        email = _account_part_way_signed_in(env, sub, enrolled=self.enrolled)
        password_step(client, email)
        env.requests += 1
        return Target({}, {"client": client, "email": email})

    def valid(self, env, sub, f):
        if f.name != "code":
            return None
        email = sub.target.ctx["email"]
        if self.enrolled:
            return [next_authenticator_code(env.app, email)]
        from mecc_volunteer.models import StaffUser

        with env.app.app_context():
            secret = db.session.scalar(sa.select(StaffUser.totp_secret).where(StaffUser.email == email))
        return [pyotp.TOTP(secret).now()]

    def happened(self, env, sub):
        if "signed_in" not in sub.target.ctx:
            sub.target.ctx["signed_in"] = env.get(sub.target.ctx["client"], "/manage/").status_code == 200
        return sub.target.ctx["signed_in"]

    def verify(self, env, sub, client):
        if sub.bad is not None:
            sub.problem("signed in with a bad value")


class EnrolmentPlan(SecondStepPlan):
    enrolled = False


class RecoveryCodesPlan(Plan):
    """Make new recovery codes: a one-button form (the coordinator's own codes)."""

    fields: ClassVar[dict[str, str]] = {}

    def before(self, env, sub):
        sub.target.ctx["made_before"] = _audit_count(env, "RECOVERY_CODES_REGENERATED")

    def happened(self, env, sub):
        return _audit_count(env, "RECOVERY_CODES_REGENERATED") > sub.target.ctx["made_before"]


def _audit_count(env, action: str) -> int:
    from mecc_volunteer.models import AuditAction, AuditEvent

    with env.app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == AuditAction[action])
        )


class SignOutPlan(Plan):
    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        client = env.app.test_client()
        sign_in(client, _account_part_way_signed_in(env, sub, enrolled=True))  # each sign-in a code of its own
        env.requests += 3
        return Target({}, {"client": client})

    def happened(self, env, sub):
        return env.get(sub.target.ctx["client"], "/manage/").status_code in (302, 303)


# --- Sessions ----------------------------------------------------------------------------------------------------

SESSION_FIELDS = {
    "day": "the date (Europe/London): database, session page",
    "month": "the date: database",
    "year": "the date: database",
    "start_time": "database, session page",
    "end_time": "database, session page",
    "kind": "database",
    "capacity": "database",
    "trainer_name": "database, session page, sessions list",
    # Only trained trainers are offered (none in the crawl's world: every value but "None of these" is refused).
    "trainer_volunteer_id": "database, session page",
    "joining_link": "database, session page, joining-link email",
    "cutoff_days": "database",
    "allow_late_promotion": "database",
}


class SessionFormPlan(Plan):
    """sessions.new and sessions.edit: every accepted value is read back from the session's row and pages."""

    fields = SESSION_FIELDS

    def day(self, sub):
        return (utcnow() + timedelta(days=60 + sub.n % 600)).astimezone(LONDON).date()

    def valid(self, env, sub, f):
        if f.name in ("day", "month", "year") and not f.value:
            return [str(getattr(self.day(sub), f.name))]
        return None

    def companions(self, env, sub):
        # A later start needs a later end, or the error is rightly next to the end time.
        return {"end_time": ["23:59"]} if sub.field == "start_time" else {}

    def expected(self, env, sub) -> dict:
        from datetime import date, datetime, time

        from mecc_volunteer.sessions.services import parse_time

        v = sub.value
        day = date(int(clean(v("year"))), int(clean(v("month"))), int(clean(v("day"))))
        start, end = parse_time(clean(v("start_time"))), parse_time(clean(v("end_time")))
        assert isinstance(start, time)
        assert isinstance(end, time)
        return {
            "starts_at": datetime.combine(day, start, tzinfo=LONDON),
            "ends_at": datetime.combine(day, end, tzinfo=LONDON),
            "kind": v("kind"),
            "capacity": int(clean(v("capacity"))),
            "trainer_name": clean(v("trainer_name")) or None,
            "trainer_volunteer_id": int(clean(v("trainer_volunteer_id"))) if clean(v("trainer_volunteer_id")) else None,
            "joining_link": clean(v("joining_link")) or None,
            "cutoff_days": int(clean(v("cutoff_days"))) if clean(v("cutoff_days")) else None,
            "allow_late_promotion": truth(v("allow_late_promotion")),
        }

    def session_id(self, env, sub) -> int | None:
        raise NotImplementedError

    def verify(self, env, sub, client):
        session_id = self.session_id(env, sub)
        expected = self.expected(env, sub)
        with env.app.app_context():
            row = db.session.get(TrainingSession, session_id)
            stored = {
                "starts_at": row.starts_at.astimezone(LONDON),
                "ends_at": row.ends_at.astimezone(LONDON),
                "kind": row.kind.value,
                "capacity": row.capacity,
                "trainer_name": row.trainer_name,
                "trainer_volunteer_id": row.trainer_volunteer_id,
                "joining_link": row.joining_link,
                "cutoff_days": row.cutoff_days,
                "allow_late_promotion": row.allow_late_promotion,
            }
        for name, value in stored.items():
            compare(sub, "the database", name, value, expected[name])
        detail = env.get(client, f"/manage/sessions/{session_id}").get_data(as_text=True)
        check_markup(sub, detail, "the session page")
        shows(sub, "the session page", detail, "trainer", expected["trainer_name"])
        shows(sub, "the session page", detail, "joining link", expected["joining_link"])
        sub.target.ctx.update(session_id=session_id, expected=expected)


class NewSessionPlan(SessionFormPlan):
    def before(self, env, sub):
        with env.app.app_context():
            sub.target.ctx["last_id"] = db.session.scalar(sa.select(sa.func.max(TrainingSession.id))) or 0

    def session_id(self, env, sub):
        with env.app.app_context():
            return db.session.scalar(
                sa.select(sa.func.min(TrainingSession.id)).where(TrainingSession.id > sub.target.ctx["last_id"])
            )

    def happened(self, env, sub):
        session_id = self.session_id(env, sub)
        if session_id is not None:
            env.fresh_sessions.append(session_id)
        return session_id is not None


class EditSessionPlan(SessionFormPlan):
    """A fresh session, with one volunteer ready for the joining link, for each submission; after an accepted
    edit the coordinator sends the joining link and the email must carry the link exactly."""

    def fresh(self, env, sub):
        day = self.day(sub)
        session_id = env.session(london(day, 10, 30))
        booking_id, _ = env.booking(session_id, ready=True)
        return Target({"session_id": session_id}, {"booking_id": booking_id})

    def happened(self, env, sub):
        return sub.target.ctx.get("redirected", False)

    def session_id(self, env, sub):
        return sub.target.args["session_id"]

    def verify(self, env, sub, client):
        super().verify(env, sub, client)
        if sub.problems or not sub.target.ctx["expected"]["joining_link"]:
            return
        path = f"/manage/sessions/{sub.target.args['session_id']}/joining-links"
        env.get(client, path)
        sent = env.post(client, path, data={})
        if sent.status_code != 303:
            sub.problem(f"sending the joining link after the edit answered {sent.status_code}")
        sub.target.ctx["mail"] = True

    def batch(self, env, subs):
        env.deliver_mail()
        for sub in subs:
            if sub.accepted and sub.target.ctx.get("mail"):
                email = _booking_email(env, sub.target.ctx["booking_id"])
                check_mail(
                    env,
                    sub,
                    email,
                    {"joining link": sub.target.ctx["expected"]["joining_link"]},
                    template="with the joining link",
                )


def _booking_email(env: Env, booking_id: int) -> str:
    with env.app.app_context():
        return db.session.get(Booking, booking_id).volunteer.email


class CancelSessionPlan(Plan):
    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        session_id = env.session()
        booking_id, _ = env.booking(session_id)
        return Target({"session_id": session_id}, {"booking_id": booking_id})

    def happened(self, env, sub):
        with env.app.app_context():
            return db.session.get(TrainingSession, sub.target.args["session_id"]).cancelled_at is not None

    def verify(self, env, sub, client):
        compare(
            sub,
            "the database",
            "booking status",
            _booking(env, sub.target.ctx["booking_id"]).status,
            BookingStatus.CANCELLED,
        )


# --- One booking: from the roster, from attendance, from My booking ------------------------------------------------

ELEARNING_FIELDS = {
    "completed_day": "the date completed: database, My booking page",
    "completed_month": "the date completed: database",
    "completed_year": "the date completed: database",
    "declaration": "database (when it was confirmed)",
}


class BookingPlan(Plan):
    """A fresh booking (in `session`, with `status`) and its My booking link for each submission."""

    session = "open"
    status = BookingStatus.BOOKED
    link = LinkPurpose.MANAGE

    def fresh(self, env, sub):
        session_id = env.world.sessions[self.session]
        booking_id, token = env.booking(session_id, self.status, link=self.link)
        args = {"booking_id": booking_id, "session_id": session_id}
        if token:
            args["token"] = token
        return Target(args, {"booking_id": booking_id, "token": token})

    def booking(self, env, sub) -> Booking:
        return _booking(env, sub.target.ctx["booking_id"])


class ElearningPlan(BookingPlan):
    """volunteers.elearning (My booking) and sessions.record_elearning (the roster)."""

    fields = ELEARNING_FIELDS

    def valid(self, env, sub, f):
        if f.is_date_part:
            yesterday = utcnow().astimezone(LONDON).date() - timedelta(days=1)
            return [str(getattr(yesterday, f.name.rsplit("_", 1)[-1]))]
        return None

    def happened(self, env, sub):
        return self.booking(env, sub).elearning_confirmed_at is not None

    def verify(self, env, sub, client):
        from datetime import date

        from mecc_volunteer.templating import format_date

        v = sub.value
        expected = date(
            int(clean(v("completed_year"))), int(clean(v("completed_month"))), int(clean(v("completed_day")))
        )
        compare(sub, "the database", "elearning_completed_on", self.booking(env, sub).elearning_completed_on, expected)
        page = env.get(env.app.test_client(), f"/my-booking/{sub.target.ctx['token']}").get_data(as_text=True)
        shows(sub, "My booking", page, "completion date", format_date(expected))


class CancelBookingPlan(BookingPlan):
    fields: ClassVar[dict[str, str]] = {}

    def happened(self, env, sub):
        return self.booking(env, sub).status is BookingStatus.CANCELLED


class PromotePlan(BookingPlan):
    """A waiting booking on a fresh session with places, booked from the roster."""

    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        session_id = env.session()
        booking_id, _ = env.booking(session_id, BookingStatus.WAITING)
        return Target(
            {"session_id": session_id, "booking_id": booking_id}, {"booking_id": booking_id, "session_id": session_id}
        )

    def happened(self, env, sub):
        return self.booking(env, sub).status is BookingStatus.BOOKED


class MovePlan(BookingPlan):
    """volunteers.move and sessions.move_booking: the booking is on the chosen session afterwards."""

    fields: ClassVar[dict[str, str]] = {"training_session": "the session moved to: database"}

    def happened(self, env, sub):
        return self.booking(env, sub).training_session_id != sub.target.args["session_id"]

    def verify(self, env, sub, client):
        compare(
            sub,
            "the database",
            "session",
            str(self.booking(env, sub).training_session_id),
            clean(sub.value("training_session")),
        )


class AttendancePlan(BookingPlan):
    """sessions.record_attendance: Attended (yes) or Did not attend (no), for a booking on a session under way."""

    fields: ClassVar[dict[str, str]] = {"attended": "the booking's status: database"}
    session = "under_way"

    def happened(self, env, sub):
        return self.booking(env, sub).status in (BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND)

    def verify(self, env, sub, client):
        expected = {"yes": BookingStatus.ATTENDED, "no": BookingStatus.DID_NOT_ATTEND}.get(sub.value("attended"))
        compare(sub, "the database", "status", self.booking(env, sub).status, expected)


class SessionActionPlan(Plan):
    """A one-button action on a fresh session with one booking in the state the action needs."""

    fields: ClassVar[dict[str, str]] = {}
    when = "future"  # or "under_way", "ended"
    status = BookingStatus.BOOKED
    ready = False

    def fresh(self, env, sub):
        now = utcnow()
        starts_at = {
            "future": None,
            "under_way": now - timedelta(minutes=30),
            "ended": now - timedelta(days=1, minutes=90),
        }[self.when]
        session_id = env.session(starts_at)
        booking_id, _ = env.booking(session_id, self.status, ready=bool(self.ready))
        if self.ready == "old link":
            with env.app.app_context():
                booking = db.session.get(Booking, booking_id)
                booking.joining_link_sent, booking.joining_link_sent_at = "https://teams.microsoft.com/l/old", utcnow()
                db.session.commit()
        return Target({"session_id": session_id}, {"booking_id": booking_id, "session_id": session_id})


class MarkAllPlan(SessionActionPlan):
    when = "under_way"

    def happened(self, env, sub):
        return _booking(env, sub.target.ctx["booking_id"]).status is BookingStatus.ATTENDED


class JoiningLinksPlan(SessionActionPlan):
    ready = True

    def happened(self, env, sub):
        return _booking(env, sub.target.ctx["booking_id"]).joining_link_sent == TEAMS


class ResendPlan(SessionActionPlan):
    ready = "old link"

    def happened(self, env, sub):
        return _booking(env, sub.target.ctx["booking_id"]).joining_link_sent == TEAMS


class RemindersPlan(SessionActionPlan):
    def happened(self, env, sub):
        return bool(_emails(env, booking_id=sub.target.ctx["booking_id"], template="elearning_reminder"))


class InvitationsPlan(SessionActionPlan):
    when = "ended"
    status = BookingStatus.ATTENDED

    def happened(self, env, sub):
        return bool(_emails(env, booking_id=sub.target.ctx["booking_id"], template="evaluation_invitation"))


class RetryEmailPlan(Plan):
    """A failed email on the open session, tried again."""

    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        session_id = env.world.sessions["open"]
        with env.app.app_context():
            email = OutgoingEmail(
                template="booking_confirmation",
                to_address=f"retry.{sub.n}@example.org",
                subject="Your MECC training",
                body_text="x",
                training_session_id=session_id,
                status=EmailStatus.FAILED,
                attempts=8,
                last_error="550 mailbox unavailable",
            )
            db.session.add(email)
            db.session.commit()
            return Target({"session_id": session_id, "email_id": email.id}, {"email_id": email.id})

    def happened(self, env, sub):
        with env.app.app_context():
            return db.session.get(OutgoingEmail, sub.target.ctx["email_id"]).status is not EmailStatus.FAILED


# --- A volunteer's own data ---------------------------------------------------------------------------------------


def _volunteer_of(env: Env, booking_id: int) -> Volunteer:
    with env.app.app_context():
        volunteer = db.session.get_one(Booking, booking_id).volunteer
        db.session.expunge(volunteer)
        return volunteer


class DeleteDataPlan(BookingPlan):
    """volunteers.delete_data: a fresh booking's volunteer deletes their data (their identity goes)."""

    fields: ClassVar[dict[str, str]] = {}

    def happened(self, env, sub):
        return _volunteer_of(env, sub.target.ctx["booking_id"]).identity_removed_at is not None


class AcknowledgePrivacyPlan(BookingPlan):
    """volunteers.acknowledge_privacy: a fresh volunteer (who read an older notice) has read the current one."""

    fields: ClassVar[dict[str, str]] = {}

    def happened(self, env, sub):
        with env.app.app_context():
            current = db.session.scalar(sa.select(Programme.privacy_notice_version))
        return _volunteer_of(env, sub.target.ctx["booking_id"]).privacy_notice_version == current


class StaffDeleteDataPlan(Plan):
    """volunteers_staff.delete: a coordinator deletes a fresh volunteer's data for them."""

    fields: ClassVar[dict[str, str]] = {}

    def fresh(self, env, sub):
        booking_id, _ = env.booking(env.world.sessions["open"])
        volunteer_id = _volunteer_of(env, booking_id).id
        return Target({"volunteer_id": volunteer_id}, {"booking_id": booking_id})

    def happened(self, env, sub):
        return _volunteer_of(env, sub.target.ctx["booking_id"]).identity_removed_at is not None


class FindVolunteerPlan(Plan):
    """volunteers_staff.find: a coordinator finds a volunteer by the address they registered with (a volunteer with
    the address is made first, when one can exist), and is taken to their data."""

    fields: ClassVar[dict[str, str]] = {"email": "never stored: it finds the volunteer with that address, or not"}

    def fresh(self, env, sub):
        email = clean(sub.bad.value) if sub.bad else f"sar.{sub.n}@example.org"
        volunteer_id = None
        if email and len(email) <= 254 and "\x00" not in email:
            with env.app.app_context():
                volunteer_id = db.session.scalar(
                    sa.select(Volunteer.id).where(Volunteer.email_normalised == email.lower())
                )
            if volunteer_id is None:
                booking_id, _ = env.booking(env.world.sessions["open"], email=email)
                volunteer_id = _volunteer_of(env, booking_id).id
        return Target({}, {"email": email, "volunteer_id": volunteer_id})

    def valid(self, env, sub, f):
        return [sub.target.ctx["email"]] if f.name == "email" else None

    def happened(self, env, sub):
        # Nothing is stored: it "happened" when the answer leads to the volunteer's data (a refusal has no answer
        # kept, and leads nowhere).
        response = sub.target.ctx.get("response")
        expected = f"/manage/volunteer-data/{sub.target.ctx['volunteer_id']}"
        return response is not None and location_of(response) == expected


# --- Surveys ------------------------------------------------------------------------------------------------------


class SurveyPlan(Plan):
    """evaluation.after_session and evaluation.followup: a fresh session that ended, an attendee and a survey link
    for each submission. Answers are read back from the database, the pilot review's comments and the responses
    CSV and XLSX."""

    survey = Survey.AFTER_SESSION

    @property
    def fields(self):
        from mecc_volunteer.instrument import CURRENT

        return {
            q.key: f"answer to {q.key!r}: database, responses CSV/XLSX"
            + (", pilot review comments" if q.type.name == "TEXT" else "")
            for s in (Survey.AFTER_SESSION, Survey.FOLLOWUP)
            for kind in SessionKind
            for q in CURRENT.for_survey(s, kind)
            if s is self.survey
        }

    def questions(self):
        from mecc_volunteer.instrument import CURRENT

        return {q.key: q for kind in SessionKind for q in CURRENT.for_survey(self.survey, kind)}

    def fresh(self, env, sub):
        now = utcnow()
        ended = timedelta(days=1) if self.survey is Survey.AFTER_SESSION else timedelta(weeks=8, days=1)
        session_id = env.session(now - ended - timedelta(minutes=90))
        purpose = LinkPurpose.EVALUATION if self.survey is Survey.AFTER_SESSION else LinkPurpose.FOLLOWUP
        booking_id, token = env.booking(session_id, BookingStatus.ATTENDED, link=purpose, followup_consent=True)
        return Target({"token": token}, {"booking_id": booking_id, "session_id": session_id})

    def happened(self, env, sub):
        with env.app.app_context():
            return (
                db.session.scalar(
                    sa.select(EvaluationResponse.id).where(
                        EvaluationResponse.booking_id == sub.target.ctx["booking_id"],
                        EvaluationResponse.survey == self.survey,
                    )
                )
                is not None
            )

    def expected(self, sub) -> dict[str, str | None]:
        expected = {}
        for key, question in self.questions().items():
            if key not in sub.sent:
                continue
            values = [v for v in sub.sent[key] if v != ""]
            kind = question.type.name
            if kind == "MULTIPLE":
                expected[key] = "|".join(dict.fromkeys(values)) or None
            elif kind == "NUMBER":
                expected[key] = str(int(clean(values[0]))) if values and clean(values[0]) else None
            elif kind == "TEXT":
                expected[key] = clean(values[0]) if values and clean(values[0]) else None
            else:
                expected[key] = values[0] if values else None
        return expected

    def verify(self, env, sub, client):
        expected = self.expected(sub)
        sub.target.ctx["expected"] = expected
        with env.app.app_context():
            stored = dict(
                db.session.execute(
                    sa.select(EvaluationAnswer.question_key, EvaluationAnswer.value).where(
                        EvaluationAnswer.booking_id == sub.target.ctx["booking_id"],
                        EvaluationAnswer.survey == self.survey,
                    )
                ).all()
            )
        for key, value in expected.items():
            compare(sub, "the database", key, stored.get(key), value)

    def batch(self, env, subs):
        accepted = [s for s in subs if s.accepted and "expected" in s.target.ctx]
        if not accepted:
            return
        evaluator = env.client("evaluator")
        # The comments, once for the form: the whole review (one session's single answer is a view of fewer
        # than 5, whose comments are hidden), which lists the newest 500.
        body = env.get(evaluator, "/manage/review/").get_data(as_text=True)
        hidden = "Comments are not shown" in body
        for sub in accepted:
            expected = sub.target.ctx["expected"]
            check_markup(sub, body, "the pilot review")
            for key, question in self.questions().items():
                text = expected.get(key)
                if question.type.name != "TEXT" or not text:
                    continue
                if not hidden:
                    shows(sub, "the pilot review's comments", body, "answer", text)
                elif len(text) > 20 and html.escape(text) in body:
                    sub.problem("the pilot review shows a comment it says it hides")
        files = {}
        for name in ("responses.csv", "responses.xlsx"):
            status, data = env.download(evaluator, f"/manage/exports/{name}")
            if status != 200:
                for sub in accepted:
                    sub.problem(f"{name} answered {status}")
                return
            files[name] = _read_csv(data) if name.endswith(".csv") else _read_xlsx(data)
        with env.app.app_context():
            from mecc_volunteer.exports.services import respondent_code

            codes = {s.n: respondent_code(s.target.ctx["booking_id"]) for s in accepted}
        numeric = {k for k, q in self.questions().items() if q.type.name in ("NUMBER", "SCALE_0_10")}
        for sub in accepted:
            for name, rows in files.items():
                row = next((r for r in rows if r.get("respondent") == codes[sub.n]), None)
                if row is None:
                    sub.problem(f"{name} has no row for the response")
                    continue
                for key, value in sub.target.ctx["expected"].items():
                    column = f"{self.survey.value}.{key}"
                    if column not in row:
                        sub.problem(f"{name} has no column {column}")
                        continue
                    expected = value or ""
                    if name.endswith(".csv"):
                        problem = csv_cell_problem(row[column] or "", expected)
                    else:
                        problem = xlsx_cell_problem(
                            row[column], int(expected) if key in numeric and expected else expected
                        )
                    if problem:
                        sub.problem(f"{name}'s {column} {problem}")


class FollowupPlan(SurveyPlan):
    survey = Survey.FOLLOWUP


# Every form that posts, by the endpoint it posts to. A form the crawl finds that is not here fails the test.
PLANS: dict[str, Plan] = {
    "admin.invite_staff": InviteStaffPlan(),
    "admin.change_role": ChangeRolePlan(),
    "admin.deactivate": DeactivatePlan(),
    "admin.reactivate": ReactivatePlan(),
    "admin.reset_second_factor": ResetSecondFactorPlan(),
    "admin.sign_out_everywhere": SignOutEverywherePlan(),
    "admin.send_password_link": PasswordLinkPlan(),
    **reference_plans(Organisation, "organisation_id", "/manage/admin/organisations/", "organisation"),
    **reference_plans(OrganisationType, "type_id", "/manage/admin/organisation-types/", "organisation_type"),
    **reference_plans(District, "area_id", "/manage/admin/areas/", "area"),
    "admin.settings": SettingsPlan(),
    "auth.set_password": SetPasswordPlan(),
    "volunteers.register": RegistrationPlan(),
    "volunteers.check_answers": CheckAnswersPlan(),
    "volunteers.lost_link": LostLinkPlan(),
    "volunteers.elearning": ElearningPlan(),
    "volunteers.move": MovePlan(),
    "volunteers.cancel": CancelBookingPlan(),
    "auth.sign_in": SignInPlan(),
    "auth.sign_out": SignOutPlan(),
    "auth.second_factor": SecondStepPlan(),
    "auth.enrol_second_factor": EnrolmentPlan(),
    "auth.regenerate_recovery_codes": RecoveryCodesPlan(),
    "sessions.new": NewSessionPlan(),
    "sessions.edit": EditSessionPlan(),
    "sessions.cancel": CancelSessionPlan(),
    "sessions.add_volunteer": AddVolunteerPlan(),
    "sessions.cancel_booking": CancelBookingPlan(),
    "sessions.promote_booking": PromotePlan(),
    "sessions.move_booking": MovePlan(),
    "sessions.record_elearning": ElearningPlan(),
    "sessions.record_attendance": AttendancePlan(),
    "sessions.mark_all_attended": MarkAllPlan(),
    "sessions.joining_links": JoiningLinksPlan(),
    "sessions.resend_joining_links": ResendPlan(),
    "sessions.elearning_reminders": RemindersPlan(),
    "evaluation_staff.invitations": InvitationsPlan(),
    "sessions.retry_email": RetryEmailPlan(),
    "evaluation.after_session": SurveyPlan(),
    "evaluation.followup": FollowupPlan(),
    "volunteers.delete_data": DeleteDataPlan(),
    "volunteers.acknowledge_privacy": AcknowledgePrivacyPlan(),
    "volunteers_staff.find": FindVolunteerPlan(),
    "volunteers_staff.delete": StaffDeleteDataPlan(),
}

# A rule that takes POST but has no page with a form for it. Each entry says why. (None today.)
ALLOWED_WITHOUT_A_FORM: dict[str, str] = {
    # Its button shows only for a pilot too large to download within a request (over
    # DOWNLOAD_PREPARE_ABOVE_ROWS bookings); tests/test_long_downloads.py posts to it, with CSRF on.
    "exports.prepare": "the downloads page of a large pilot: tests/test_long_downloads.py",
}


# --- Finding the forms (at collection, to name each case) and running them -------------------------------------------


def prime(world):
    """Before the anonymous visitor crawls: a registration part-way through, so Check your answers has its form."""

    def run(client):
        register_part_way(client, world.sessions["open"], "part.way@example.org")

    return run


@dataclass
class Discovery:
    forms: dict[str, list[tuple[str, str]]]  # endpoint -> [(field name, kind)]
    post_endpoints: set[str]
    pages: int
    seconds: float


def discover() -> Discovery:
    """Crawl a throwaway app on a temporary SQLite database to learn every form and field, so that each case
    can be a test of its own. The run itself crawls again, on the test database, and checks it finds the same."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="every-form-") as tmp:
        app = create_app(app_settings(f"sqlite:///{tmp}/discover.sqlite"), instance_path=f"{tmp}/instance")
        app.test_client_class = BrowserLikeClient
        try:
            with app.app_context():
                flask_migrate.upgrade()  # migrated as the app's own databases are (/readyz checks it)
                seed_reference_data()
                db.session.commit()
            world = build_world(app)
            found, pages = crawl(app, world, prime=prime(world))
            chosen = choose(found)
            forms = {
                endpoint: [(f.name, kind_of(f)) for f in merge(_same_action(found, item)).fields.values()]
                for endpoint, item in chosen.items()
            }
            return Discovery(forms, post_endpoints(app), pages, time.perf_counter() - started)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _same_action(found, item) -> list[Form]:
    """The chosen form and the others on its page that post to the same address."""
    return [
        f.form
        for f in found
        if f.page_endpoint == item.page_endpoint
        and f.page_args == item.page_args
        and f.visitor == item.visitor
        and f.form.path == item.form.path
    ]


DISCOVERY = discover()

# Defects found by this test that belong to code outside the forms: each is a case expected to fail until it is
# fixed, (endpoint, field, input id) -> the defect in one line. Remove an entry when its fix lands (strict: a case
# that passes while marked fails the run).
KNOWN_DEFECTS: dict[tuple[str, str, str], str] = {}


def cases() -> list:
    params = []
    for endpoint, fields in sorted(DISCOVERY.forms.items()):
        items = [(AS_FOUND, VALID)]
        field_kinds = dict(fields)
        for name, kind in fields:
            items.extend((name, bad.id) for bad in BAD if bad.tags & TAGS[kind])
        for name, input_id in items:
            reason = KNOWN_DEFECTS.get((endpoint, name, input_id))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            kind = field_kinds.get(name, "form")
            params.append(
                pytest.param(endpoint, name, input_id, id=f"{endpoint}-{name}[{kind}]-{input_id}", marks=marks)
            )
    return params


@pytest.fixture(scope="module")
def env(database_url, tmp_path_factory):
    smtp = SMTPServer()
    smtp.start()
    ALLOWED_SMTP_PORTS.add(smtp.port)
    config = app_settings(
        database_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_DEFAULT_SENDER="MECC <mecc@example.org>"
    )
    app = create_app(config, instance_path=str(tmp_path_factory.mktemp("every-form")))
    app.test_client_class = BrowserLikeClient
    try:
        with app.app_context():
            seed_reference_data()
            db.session.commit()
        started = time.perf_counter()
        world = build_world(app)
        found, pages = crawl(app, world, prime=prime(world))
        environment = Env(app, world, smtp, found, pages)
        environment.crawl_seconds = time.perf_counter() - started
        with app.app_context():
            from mecc_volunteer.auth.services import create_staff
            from mecc_volunteer.models import StaffRole

            environment.sign_in_email = "forms-sign-in@example.org"
            create_staff(
                environment.sign_in_email, name="Sign-in tester", role=StaffRole.COORDINATOR, password=STAFF_PASSWORD
            )
            db.session.commit()
        yield environment
        wait_for_mail(app)  # the courier has finished with this app's mail before its tables go
    finally:
        with app.app_context():
            db.session.remove()
            empty_all_tables()
            db.engine.dispose()
        ALLOWED_SMTP_PORTS.discard(smtp.port)
        smtp.stop()


def run_form(env: Env, endpoint: str) -> dict[tuple[str, str], list[str]]:
    """Every case of one form, plain and htmx, then its batched checks (mail, downloads); problems by case."""
    if endpoint in env.results:
        return env.results[endpoint]
    plan = PLANS[endpoint]
    found = env.chosen[endpoint]
    started, requests = time.perf_counter(), env.requests
    page_forms = _same_action(env.found, found)
    form = merge(page_forms)
    subs: list[Sub] = []
    results: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, f in form.fields.items():
        if name not in plan.fields:
            for bad in inputs_for(f):
                results[(name, bad.id)].append(f"the plan for {endpoint} does not say where {name!r} is stored: add it")
    for mode in ("plain", "htmx"):
        subs.append(submit(env, plan, endpoint, AS_FOUND, None, mode))
    for name, f in form.fields.items():
        if name not in plan.fields:
            continue
        for bad in inputs_for(f):
            for mode in ("plain", "htmx"):
                subs.append(submit(env, plan, endpoint, name, bad, mode))
    try:
        plan.batch(env, subs)
    except Exception as error:
        for sub in subs:
            sub.problem(f"the batched checks failed: {type(error).__name__}: {short(str(error))}")
    for sub in subs:
        results[sub.case].extend(sub.problems)
    env.timings[endpoint] = (time.perf_counter() - started, env.requests - requests, len(subs))
    env.accepted[endpoint] = sum(sub.accepted for sub in subs)
    env.outcomes[endpoint] = {
        f"{sub.field} {sub.case[1]} {sub.mode}": "stored" if sub.accepted else "refused" for sub in subs
    }
    env.results[endpoint] = results
    return results


# --- The tests -------------------------------------------------------------------------------------------------


def test_every_rule_that_takes_post_is_reached_by_a_form_on_some_page(env):
    """A new form cannot be missed: every POST rule is posted to by a form the crawl found (or is allowed)."""
    missing = sorted(DISCOVERY.post_endpoints - set(DISCOVERY.forms) - set(ALLOWED_WITHOUT_A_FORM))
    assert not missing, f"rules that take POST but no page has a form for: {missing}"
    assert set(env.chosen) >= set(DISCOVERY.forms), "the run found fewer forms than collection did"
    unplanned = sorted(set(DISCOVERY.forms) - set(PLANS))
    assert not unplanned, f"forms with no plan (say what they store and how to get a fresh target): {unplanned}"
    for endpoint in DISCOVERY.forms:
        found = set(merge(_same_action(env.found, env.chosen[endpoint])).fields)
        assert found == {name for name, _ in DISCOVERY.forms[endpoint]}, (
            f"{endpoint} has other fields on the test database"
        )


@pytest.mark.parametrize(("endpoint", "field_name", "input_id"), cases())
def test_every_form_refuses_or_round_trips_every_bad_input(env, endpoint, field_name, input_id):
    results = run_form(env, endpoint)
    problems = results.get((field_name, input_id))
    assert problems is not None, f"the run made no submission for {field_name} {input_id}"
    assert not problems, f"{endpoint} {field_name} = {input_id}:\n  " + "\n  ".join(problems)


def test_the_every_form_run_reports_its_cost(env, capsys):
    """Printed, not asserted: the time and requests per form on this database (run after every form's cases)."""
    for endpoint in DISCOVERY.forms:
        run_form(env, endpoint)
    total_time = sum(t for t, _, _ in env.timings.values()) + env.crawl_seconds
    lines = [
        (
            f"every-form run on {env.app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: "
            f"collection crawl {DISCOVERY.pages} pages in {DISCOVERY.seconds:.1f}s; "
            f"run crawl {env.crawled_pages} pages in {env.crawl_seconds:.1f}s; "
            f"{env.requests} requests in {total_time:.1f}s"
        ),
    ]
    for endpoint, (seconds, requests, submissions) in sorted(env.timings.items(), key=lambda kv: -kv[1][0]):
        lines.append(
            f"  {endpoint:36} {submissions:5} submissions ({env.accepted[endpoint]:4} stored) "
            f"{requests:6} requests {seconds:6.1f}s"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    if os.environ.get("EVERY_FORM_OUTCOMES"):  # a file to write which case was stored and which refused
        Path(os.environ["EVERY_FORM_OUTCOMES"]).write_text(json.dumps(env.outcomes, indent=1, sort_keys=True))
    assert env.requests > 0
