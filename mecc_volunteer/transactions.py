"""Commit helpers for views and commands."""

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from mecc_volunteer.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")


def commit_with_one_retry(action: Callable[[], T], *, what: str) -> T:
    """Run the service call and commit. A double-submitted form (or two first registrations with one email)
    collides in a unique index: roll back and run it once more, and the second run finds what the first
    wrote and answers as for a returning volunteer."""
    for attempt in (1, 2):
        try:
            result = action()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
            log.info("%s collided with a concurrent change; trying once more", what)
    raise AssertionError("unreachable")
