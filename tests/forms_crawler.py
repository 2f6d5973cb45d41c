"""Finds every form in the app the way a person would: GET every page (each rule of app.url_map that answers
GET, with its arguments filled from a world that reaches every page) as each kind of visitor, and read each
`<form method="post">` and each element with `hx-post`, with its fields.

Used by tests/test_every_form.py, which fills every field found here with every bad input that suits it.
"""

import contextlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from itertools import product
from urllib.parse import urlsplit

import sqlalchemy as sa
from werkzeug.exceptions import HTTPException

from mecc_volunteer.auth.services import create_staff
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import prepared
from mecc_volunteer.exports.services import RESPONSES_CSV
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    LONDON,
    Booking,
    BookingStatus,
    EmailStatus,
    LinkPurpose,
    OutgoingEmail,
    Programme,
    SessionKind,
    StaffRole,
    StaffUser,
    TrainingSession,
    utcnow,
)
from mecc_volunteer.tokens import issue_link
from tests.helpers import (
    STAFF_PASSWORD,
    STAFF_TOTP_SECRET,
    add_volunteer,
    london,
    next_authenticator_code,
    staff_password_hashed_once,
)

# "signing in" and "enrolling" have given the password of an account with an authenticator app (the code page)
# and of one without (the enrolment page): the second step's forms are only ever seen between the two steps.
VISITORS = ("anonymous", "signing in", "enrolling", "coordinator", "evaluator", "admin")
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_forms"
DATE_PARTS = ("day", "month", "year")


# --- Reading a page's forms ---------------------------------------------------------------------------


@dataclass
class Field:
    """One named control of a form (all the radios or checkboxes of one name are one Field)."""

    name: str
    control: str  # text, email, tel, number, url, hidden, password, radio, checkbox, select, textarea, ...
    id: str | None = None  # the id of the first control of this name (the one the error summary links to)
    value: str = ""  # a text control's value; a textarea's text
    options: list[str] = field(default_factory=list)  # select options, radio or checkbox values
    checked: list[str] = field(default_factory=list)  # checked radios/boxes, selected options
    inputmode: str | None = None

    @property
    def is_date_part(self) -> bool:
        return self.name.rsplit("_", 1)[-1] in DATE_PARTS


@dataclass
class Form:
    action: str  # the path and query the form posts to
    page: str  # the URL of the page it was found on
    hx: bool  # posted by htmx (hx-post)
    hx_target: str | None
    fields: dict[str, Field]
    csrf: str | None  # the value of its hidden csrf_token field
    header_token: str | None  # the body's hx-headers token
    posts: bool = True  # False for a GET form (read only so that its fields stay out of other forms)

    @property
    def path(self) -> str:
        return urlsplit(self.action).path

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)


class FormParser(HTMLParser):
    """Every form that posts, and every element with hx-post (which posts its enclosing form's fields, or only
    its own name/value and hx-vals when it is outside a form)."""

    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.forms: list[Form] = []
        self.header_token: str | None = None
        self._stack: list[Form] = []  # the open <form>s
        self._select: Field | None = None
        self._textarea: Field | None = None
        self._option: str | None = None

    # A form that does not post (a GET search form) is read too, so that its fields do not leak into another
    # form, but only posting forms are kept.
    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "body" and a.get("hx-headers"):
            with contextlib.suppress(ValueError):
                self.header_token = json.loads(a["hx-headers"]).get("X-CSRFToken")
        if tag == "form":
            posts = (a.get("method") or "get").lower() == "post" or "hx-post" in a
            action = a.get("hx-post") or a.get("action") or self.url
            self._stack.append(Form(action, self.url, "hx-post" in a, a.get("hx-target"), {}, None, None, posts=posts))
            return
        form = self._stack[-1] if self._stack else None
        if "hx-post" in a and tag != "form":
            # An htmx control: it posts its form's fields if it is inside one; otherwise its own.
            if form is not None and form.posts and urlsplit(form.action).path == urlsplit(a["hx-post"]).path:
                form.hx = True
                form.hx_target = form.hx_target or a.get("hx-target")
            else:
                own = Form(a["hx-post"], self.url, True, a.get("hx-target"), {}, None, None)
                for name, value in _hx_vals(a.get("hx-vals")).items():
                    own.fields[name] = Field(name, "hidden", value=value)
                if a.get("name"):
                    own.fields[a["name"]] = Field(a["name"], "hidden", value=a.get("value", ""))
                self.forms.append(own)
        if form is None:
            return
        if tag == "input":
            self._input(form, a)
        elif tag == "select" and a.get("name"):
            self._select = form.fields.setdefault(a["name"], Field(a["name"], "select", id=a.get("id")))
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._select.options.append(value)
            if "selected" in a:
                self._select.checked.append(value)
        elif tag == "textarea" and a.get("name"):
            self._textarea = form.fields.setdefault(a["name"], Field(a["name"], "textarea", id=a.get("id")))

    def _input(self, form: Form, a: dict) -> None:
        name, control = a.get("name"), (a.get("type") or "text").lower()
        if not name or control in ("submit", "button", "image", "reset", "file"):
            return
        if name == "csrf_token":
            form.csrf = a.get("value")
            return
        found = form.fields.get(name)
        if found is None:
            found = form.fields[name] = Field(name, control, id=a.get("id"), inputmode=a.get("inputmode"))
        if control in ("radio", "checkbox"):
            value = a.get("value", "on")
            found.options.append(value)
            if "checked" in a:
                found.checked.append(value)
        else:
            found.value = a.get("value", "")

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None and self._textarea.value.startswith("\n"):
                self._textarea.value = self._textarea.value[1:]  # HTML drops one leading newline
            self._textarea = None
        elif tag == "form" and self._stack:
            form = self._stack.pop()
            if form.posts:
                self.forms.append(form)

    def close(self):
        super().close()
        for form in self.forms:
            form.header_token = self.header_token


def _hx_vals(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        return {k: str(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return {}


def read_forms(url: str, html: str) -> list[Form]:
    parser = FormParser(url)
    parser.feed(html)
    parser.close()
    return parser.forms


# --- A world that reaches every page ----------------------------------------------------------------------


@dataclass
class World:
    staff: dict[str, str]  # role -> email
    sessions: dict[str, int]  # purpose -> session id
    bookings: dict[str, int]  # purpose -> booking id
    tokens: dict[str, str]  # purpose -> secret (manage, evaluation, followup)
    emails: dict[str, int]  # purpose -> outgoing email id
    counter: int = 0
    # URL argument -> the rows the crawl opens for it (the admin's pages: staff accounts, list rows)
    refs: dict[str, list[int]] = field(default_factory=dict)

    def next(self) -> int:
        self.counter += 1
        return self.counter


def _session(programme_id: int, starts_at, *, capacity=20, **columns) -> TrainingSession:
    training_session = TrainingSession(
        programme_id=programme_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=90),
        capacity=capacity,
        kind=columns.pop("kind", SessionKind.VOLUNTEER_TRAINING),
        trainer_name=columns.pop("trainer_name", "Sam Okafor"),
        joining_link=columns.pop("joining_link", TEAMS),
        **columns,
    )
    db.session.add(training_session)
    db.session.flush()
    return training_session


def add_booking(
    training_session: TrainingSession, n: int, status=BookingStatus.BOOKED, *, ready=False, **volunteer
) -> Booking:
    """A booking (and its volunteer), keeping places_taken in step; `ready` confirms the e-learning."""
    now = utcnow()
    volunteer = {"name": f"World Volunteer {n}", "email": f"world{n}@example.org", **volunteer}
    booking = Booking(
        training_session_id=training_session.id,
        volunteer_id=add_volunteer(n, **volunteer).id,
        session_kind=training_session.kind,
        status=status,
        created_at=now,
    )
    if status is BookingStatus.WAITING:
        booking.waitlisted_at = now
    else:
        booking.booked_at = now
    if status in (BookingStatus.BOOKED, BookingStatus.ATTENDED, BookingStatus.DID_NOT_ATTEND):
        training_session.places_taken += 1
    if ready:
        booking.elearning_completed_on = now.astimezone(LONDON).date() - timedelta(days=1)
        booking.elearning_confirmed_at = now
    db.session.add(booking)
    db.session.flush()
    return booking


def _admin_rows() -> tuple[dict[str, list[int]], str]:
    """For the admin's pages: accounts other than the visitors' (one active with an authenticator app, so that
    Reset and Deactivate show, and one deactivated, so that Reactivate does), a row of each list and a retired
    one (Retire and Restore), and an invitation link for the set-password page (its secret)."""
    from mecc_volunteer.auth.staff_links import issue_staff_link
    from mecc_volunteer.models import District, Organisation, OrganisationType, StaffLinkPurpose

    now = utcnow()
    active = create_staff(
        "forms-account@example.org", name="Forms Account", role=StaffRole.COORDINATOR, password=STAFF_PASSWORD
    )
    active.totp_secret, active.totp_confirmed_at = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", now
    inactive = create_staff(
        "forms-inactive@example.org", name="Forms Inactive", role=StaffRole.EVALUATOR, password=STAFF_PASSWORD
    )
    inactive.active = False
    invited = StaffUser(email="forms-invited@example.org", name="Forms Invited", role=StaffRole.COORDINATOR)
    db.session.add(invited)
    db.session.flush()
    _, token = issue_staff_link(invited, StaffLinkPurpose.INVITATION)
    kind = OrganisationType(name="Forms type", sort_order=0)
    retired_kind = OrganisationType(name="Forms retired type", sort_order=1, retired_at=now)
    retired_organisation = Organisation(name="Forms retired organisation", sort_order=200, retired_at=now)
    retired_area = District(name="Forms retired area", sort_order=200, retired_at=now)
    db.session.add_all([kind, retired_kind, retired_organisation, retired_area])
    db.session.flush()
    first_organisation = db.session.scalar(
        sa.select(Organisation.id).order_by(Organisation.sort_order, Organisation.id)
    )
    first_area = db.session.scalar(sa.select(District.id).order_by(District.sort_order, District.id))
    refs = {
        "staff_id": [active.id, inactive.id],
        "type_id": [kind.id, retired_kind.id],
        "organisation_id": [first_organisation, retired_organisation.id],
        "area_id": [first_area, retired_area.id],
    }
    return refs, token


def build_world(app) -> World:
    """Staff of each role; an open session (booked, ready, waiting, a failed email), another to move to, one
    under way (attendance), one that ended yesterday (evaluation) and one that ended 8 weeks ago (follow-up)."""
    with app.app_context(), staff_password_hashed_once():
        staff = {}
        for role in ("coordinator", "evaluator", "admin", "signing in", "enrolling"):
            staff[role] = f"forms-{role.replace(' ', '-')}@example.org"
            role_of = StaffRole(role) if role in ("coordinator", "evaluator", "admin") else StaffRole.COORDINATOR
            made = create_staff(staff[role], name=f"Forms {role}", role=role_of, password=STAFF_PASSWORD)
            if role != "enrolling":
                made.totp_secret, made.totp_confirmed_at = STAFF_TOTP_SECRET, utcnow()
        programme_id = db.session.scalar(sa.select(Programme.id))
        today = utcnow().astimezone(LONDON).date()
        now = utcnow()
        open_session = _session(programme_id, london(today + timedelta(days=30), 10, 30), capacity=500)
        other = _session(programme_id, london(today + timedelta(days=40), 14, 0), capacity=500)
        under_way = _session(programme_id, now - timedelta(minutes=30), capacity=500)
        ended = _session(programme_id, now - timedelta(days=1, minutes=90))
        old = _session(programme_id, now - timedelta(weeks=8, days=1, minutes=90))
        n = iter(range(1, 1000))
        booked = add_booking(open_session, next(n))
        ready = add_booking(open_session, next(n), ready=True)
        waiting = add_booking(open_session, next(n), BookingStatus.WAITING)
        had_old_link = add_booking(open_session, next(n), ready=True)
        had_old_link.joining_link_sent, had_old_link.joining_link_sent_at = "https://teams.microsoft.com/l/old", now
        present = add_booking(under_way, next(n), ready=True)
        attended = add_booking(ended, next(n), BookingStatus.ATTENDED, followup_consent=True)
        followed = add_booking(old, next(n), BookingStatus.ATTENDED, followup_consent=True)
        failed = OutgoingEmail(
            template="booking_confirmation",
            to_address="world1@example.org",
            subject="Your MECC training",
            body_text="x",
            booking_id=booked.id,
            training_session_id=open_session.id,
            status=EmailStatus.FAILED,
            attempts=5,
            last_error="550 mailbox unavailable",
        )
        db.session.add(failed)
        tokens = {
            "manage": issue_link(booked, LinkPurpose.MANAGE),
            "evaluation": issue_link(attended, LinkPurpose.EVALUATION),
            "followup": issue_link(followed, LinkPurpose.FOLLOWUP),
        }
        refs, tokens["staff_link"] = _admin_rows()
        db.session.commit()
        world = World(
            staff=staff,
            sessions={
                "open": open_session.id,
                "other": other.id,
                "under_way": under_way.id,
                "ended": ended.id,
                "old": old.id,
            },
            bookings={
                "booked": booked.id,
                "ready": ready.id,
                "waiting": waiting.id,
                "present": present.id,
                "attended": attended.id,
                "followed": followed.id,
            },
            tokens=tokens,
            emails={"failed": failed.id},
            counter=1000,
            refs=refs,
        )
        # A download the jobs runner prepared for the evaluator (the page it is offered on, and the file).
        evaluator = db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == staff["evaluator"]))
        download = prepared.request_download(evaluator, RESPONSES_CSV, ReviewFilters())
        db.session.commit()
        prepared.prepare_due(utcnow())
        world.refs["download_id"] = [download.id]
        return world


# --- Crawling ---------------------------------------------------------------------------------------------


@dataclass
class Found:
    """A form as found: who saw it, on which page (endpoint and arguments), and where it posts."""

    visitor: str
    page_endpoint: str
    page_args: dict
    endpoint: str  # the endpoint it posts to
    args: dict  # that endpoint's arguments
    form: Form


def argument_values(app, world: World, rule) -> list[dict]:
    """Every combination of the rule's arguments the world can fill: each session, each of its bookings and
    emails, each personal link."""
    with app.app_context():
        bookings = {
            sid: list(db.session.scalars(sa.select(Booking.id).where(Booking.training_session_id == sid)))
            for sid in world.sessions.values()
        }
        emails = {
            sid: list(db.session.scalars(sa.select(OutgoingEmail.id).where(OutgoingEmail.training_session_id == sid)))
            for sid in world.sessions.values()
        }
    args = set(rule.arguments)
    if args == {"filename"}:
        return [{"filename": "css/app.min.css"}]
    if "token" in args:
        return [{"token": token} for token in world.tokens.values()]
    if args == {"volunteer_id"}:  # a coordinator's pages about one volunteer's data: the booked volunteer's
        with app.app_context():
            return [{"volunteer_id": db.session.get_one(Booking, world.bookings["booked"]).volunteer_id}]
    if args and args <= world.refs.keys():  # the admin's pages: each row the world made for them
        names = sorted(args)
        return [dict(zip(names, ids, strict=True)) for ids in product(*(world.refs[name] for name in names))]
    if not args:
        return [{}]
    combos = []
    for sid in world.sessions.values():
        choices = [[("session_id", sid)]]
        if "booking_id" in args:
            choices.append([("booking_id", b) for b in bookings[sid]])
        if "email_id" in args:
            choices.append([("email_id", e) for e in emails[sid]])
        combos.extend(dict(pairs) for pairs in product(*choices))
    unknown = args - {"session_id", "booking_id", "email_id"}
    assert not unknown, f"the world cannot fill {sorted(unknown)} in {rule.rule}: teach forms_crawler.argument_values"
    return combos


def password_step(client, email: str) -> None:
    """The first step of signing in: afterwards the client is between the password and the code."""
    response = client.post("/manage/sign-in", data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 303, f"the password of {email} was refused: {response.status_code}"


def sign_in(client, email: str) -> None:
    """Both steps: the password, then the code from the account's authenticator app."""
    password_step(client, email)
    response = client.post("/manage/sign-in/code", data={"code": next_authenticator_code(client.application, email)})
    assert response.status_code == 303, f"could not sign in as {email}: {response.status_code}"


def crawl(app, world: World, *, prime=None) -> tuple[list[Found], int]:
    """GET every page as every visitor; every posting form found, and the number of pages fetched.
    `prime(client)` runs first for the anonymous visitor (a registration part-way through, say)."""
    found: list[Found] = []
    fetched = 0
    adapter = app.url_map.bind("localhost")
    rules = [rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())]
    for visitor in VISITORS:
        client = app.test_client()
        if visitor == "anonymous":
            if prime is not None:
                prime(client)
        elif visitor in ("signing in", "enrolling"):
            password_step(client, world.staff[visitor])
        else:
            sign_in(client, world.staff[visitor])
        for rule in rules:
            for values in argument_values(app, world, rule):
                with app.test_request_context():
                    url = adapter.build(rule.endpoint, values)
                response = client.get(url)
                fetched += 1
                response.close()  # a download's temporary file
                assert response.status_code < 500, f"GET {url} as {visitor} answered {response.status_code}"
                if response.status_code != 200 or response.mimetype != "text/html":
                    continue
                for form in read_forms(url, response.get_data(as_text=True)):
                    try:
                        endpoint, args = adapter.match(form.path, method="POST")
                    except HTTPException:
                        endpoint, args = None, {}
                    found.append(Found(visitor, rule.endpoint, dict(values), endpoint, args, form))
    return found, fetched


def post_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in (rule.methods or ())}


def choose(found: list[Found]) -> dict[str, Found]:
    """One form per endpoint it posts to: the one on that endpoint's own page if there is one, then the one
    with the most fields, seen by a coordinator or anonymous visitor before an admin."""
    order = {visitor: n for n, visitor in enumerate(VISITORS)}
    chosen: dict[str, Found] = {}
    for item in found:
        if item.endpoint is None:
            continue
        key = (item.page_endpoint != item.endpoint, -len(item.form.fields), order[item.visitor])
        best = chosen.get(item.endpoint)
        if best is None or key < (best.page_endpoint != best.endpoint, -len(best.form.fields), order[best.visitor]):
            chosen[item.endpoint] = item
    return chosen


__all__ = [
    "DATE_PARTS",
    "STAFF_TOTP_SECRET",
    "TEAMS",
    "VISITORS",
    "Field",
    "Form",
    "Found",
    "World",
    "add_booking",
    "build_world",
    "choose",
    "crawl",
    "password_step",
    "post_endpoints",
    "read_forms",
    "sign_in",
]
