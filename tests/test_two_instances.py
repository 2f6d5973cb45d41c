"""The two-instance check (tests/two_instances.py) in the PostgreSQL suite: two gunicorn servers on one
database behind a reverse proxy hold the race for places, the outbox and the link limits. About a minute."""

import os

import pytest

from tests import two_instances

pytestmark = pytest.mark.postgres_only(reason="two app servers share one PostgreSQL database (TEST_DATABASE_URL)")


def test_two_instances_behind_a_proxy_hold_places_mail_and_limits(capsys):
    server = os.environ["TEST_DATABASE_URL"]
    status = two_instances.main(["--server", server])
    report = capsys.readouterr().out
    assert status == 0, report
