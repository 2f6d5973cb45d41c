"""Rate limits kept in the database (shared by every app instance): the limiter itself, and "Lost your link?"
from one address. The concurrency of both is tested in test_race.py."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mecc_volunteer import limits
from mecc_volunteer.extensions import db
from mecc_volunteer.models import OutgoingEmail, RateLimitHit, utcnow
from mecc_volunteer.volunteers.services import LINK_REQUESTS_PER_ADDRESS
from tests.helpers import without_csrf_tokens

LIMIT = limits.Limit("test", max_hits=3, window=timedelta(minutes=10))


# --- The limiter ------------------------------------------------------------------------------------------


def test_a_limit_allows_its_hits_in_the_window_then_refuses_until_they_expire(app_context):
    now = utcnow()
    assert [limits.hit(LIMIT, "198.51.100.1", now=now + timedelta(seconds=i)) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert limits.hit(LIMIT, "198.51.100.2", now=now), "another key has its own count"
    # A refused request is not counted, so waiting out the window is enough.
    assert limits.count(LIMIT, limits.key_hash("198.51.100.1"), now=now + timedelta(seconds=10)) == 3
    assert not limits.hit(LIMIT, "198.51.100.1", now=now + timedelta(minutes=9, seconds=59))
    assert limits.hit(LIMIT, "198.51.100.1", now=now + timedelta(minutes=10, seconds=1))


def test_limits_store_a_hash_never_the_address_and_prune_what_has_expired(app_context):
    now = utcnow()
    for i in range(3):
        limits.hit(LIMIT, f"203.0.113.{i}", now=now)
    limits.hit(limits.Limit("other", 3, timedelta(minutes=10)), "203.0.113.9", now=now)
    db.session.commit()
    stored = db.session.scalars(sa.select(RateLimitHit.key_hash)).all()
    assert len(stored) == 4
    assert not any("203.0.113" in value for value in stored)

    limits.hit(LIMIT, "203.0.113.50", now=now + timedelta(minutes=11))
    db.session.commit()

    left = db.session.execute(sa.select(RateLimitHit.bucket, RateLimitHit.hit_at)).all()
    # The test bucket's expired hits are gone; the other bucket's (its own window) are its own business.
    assert sorted(bucket for bucket, _ in left) == ["other", "test"]


# --- "Lost your link?" from one address -------------------------------------------------------------------


def ask(client, email: str, **kwargs):
    return client.post("/lost-link", data={"email": email}, **kwargs)


def test_lost_link_from_one_address_stops_at_the_limit_with_a_clear_page(
    app, client, make_booking, make_training_session
):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.20"
    answers = [ask(client, f"someone{i}@example.org") for i in range(LINK_REQUESTS_PER_ADDRESS.max_hits)]
    assert {a.status_code for a in answers} == {200}
    assert all("Check your email" in a.text for a in answers)

    over = ask(client, "one-more@example.org")

    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) == LINK_REQUESTS_PER_ADDRESS.window.total_seconds()
    assert "<title>You have asked for too many links – " in over.text
    assert "<h1>You have asked for too many links</h1>" in over.text
    assert "Wait 15 minutes, then try again." in over.text
    assert "Check your email" not in over.text
    assert "one-more@example.org" not in over.text

    # Another address is not held up.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert "Check your email" in ask(elsewhere, "someone@example.org").text


def test_lost_link_over_the_limit_says_nothing_about_whether_the_address_is_known(
    app, client, make_volunteer, make_booking, make_training_session
):
    volunteer_id = make_volunteer(email="known@example.org")
    make_booking(make_training_session().id, volunteer_id=volunteer_id)
    client.environ_base["REMOTE_ADDR"] = "203.0.113.21"
    for i in range(LINK_REQUESTS_PER_ADDRESS.max_hits):
        ask(client, f"someone{i}@example.org")

    known, unknown = ask(client, "known@example.org"), ask(client, "unknown@example.org")

    assert known.status_code == unknown.status_code == 429
    assert without_csrf_tokens(known.text) == without_csrf_tokens(unknown.text)
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.template == "your_link"))
            == 0
        )


def test_lost_link_over_the_limit_with_htmx_swaps_the_message_in_with_its_title(client, htmx_headers):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.22"
    client.get("/lost-link")
    for i in range(LINK_REQUESTS_PER_ADDRESS.max_hits):
        ask(client, f"someone{i}@example.org", headers=htmx_headers)

    fragment = ask(client, "one-more@example.org", headers=htmx_headers)

    assert fragment.status_code == 200  # htmx swaps no 4xx
    assert "<html" not in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]
    assert fragment.text.lstrip().startswith("<title>You have asked for too many links – ")
    assert "Wait 15 minutes, then try again." in fragment.text


def test_a_form_with_errors_does_not_count_against_the_address(client):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.23"
    for _ in range(LINK_REQUESTS_PER_ADDRESS.max_hits + 5):
        assert "There is a problem" in ask(client, "not an email").text
    assert "Check your email" in ask(client, "someone@example.org").text


@pytest.mark.parametrize("email", ["Known@Example.org ", "known@example.org"])
def test_lost_link_still_sends_the_link_within_the_limit(
    app, client, make_volunteer, make_booking, make_training_session, email
):
    volunteer_id = make_volunteer(email="known@example.org")
    make_booking(make_training_session().id, volunteer_id=volunteer_id)
    assert "Check your email" in ask(client, email).text
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count(OutgoingEmail.id)).where(OutgoingEmail.template == "your_link"))
            == 1
        )
