"""The one way a view or command runs a service call: commit if it keeps the rules; roll back and hand back the
broken rule (a DomainError, with its message for the page) if not."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mecc_volunteer.errors import DomainError
from mecc_volunteer.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """What came of a service call: its result once committed, or the rule it broke (nothing was written)."""

    value: T | None = None
    error: DomainError | None = None

    @property
    def result(self) -> T:
        """The committed result; asking for it after a broken rule raises that rule's DomainError."""
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


def attempt(action: Callable[[], T], *, retry_on_conflict: str | None = None) -> Attempt[T]:
    """Run the service call and commit. A DomainError rolls everything back and is returned, not raised.

    retry_on_conflict names the action for the log: a double-submitted form (or two first registrations with one
    email) collides in a unique index, so roll back and run it once more; the second run finds what the first
    wrote and answers as for a returning volunteer. A second collision is raised."""
    for attempt_number in (1, 2):
        try:
            result = action()
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            return Attempt(error=error)
        except IntegrityError:
            db.session.rollback()
            if retry_on_conflict is None or attempt_number == 2:
                raise
            log.info("%s collided with a concurrent change; trying once more", retry_on_conflict)
            continue
        return Attempt(value=result)
    raise AssertionError("unreachable")


def commit_with_one_retry(action: Callable[[], T], *, what: str) -> T:
    """As attempt with retry_on_conflict, for a caller that lets a DomainError propagate (nothing was written)."""
    return attempt(action, retry_on_conflict=what).result


def rows_changed(statement: sa.Update | sa.Delete) -> int:
    """Run an UPDATE or DELETE in the current transaction and say how many rows it changed: the answer a
    conditional update ("only if it is still waiting") is asked for."""
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return cast(sa.CursorResult, result).rowcount
