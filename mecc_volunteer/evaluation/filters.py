"""The filters shared by the pilot review dashboard, the board report and the downloads: session, date range
(the board report's period), organisation and kind of session."""

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from mecc_volunteer.models import LONDON, Booking, SessionKind, TrainingSession, Volunteer


@dataclass(frozen=True)
class ReviewFilters:
    session_id: int | None = None
    date_from: date | None = None  # sessions starting on or after this London date
    date_to: date | None = None  # sessions starting on or before this London date
    organisation_id: int | None = None
    kind: SessionKind | None = None

    @classmethod
    def from_args(cls, args) -> tuple["ReviewFilters", dict[str, str]]:
        """Parse query-string arguments; unusable values are dropped and reported, never a 500."""
        problems: dict[str, str] = {}

        def whole(name: str) -> int | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            if value.isascii() and value.isdigit() and len(value) < 10:
                return int(value)
            problems[name] = "Choose an option from the list"
            return None

        def day(name: str, label: str) -> date | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                problems[name] = f"Enter the {label} as a real date, like 2026-09-22"
                return None

        def kind() -> SessionKind | None:
            value = (args.get("kind") or "").strip()
            if not value:
                return None
            try:
                return SessionKind(value)
            except ValueError:
                problems["kind"] = "Choose an option from the list"
                return None

        filters = cls(
            session_id=whole("session"),
            date_from=day("from", "start of the date range"),
            date_to=day("to", "end of the date range"),
            organisation_id=whole("organisation"),
            kind=kind(),
        )
        if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
            problems["to"] = "The end of the date range must be on or after its start"
            filters = replace(filters, date_to=None)
        return filters, problems

    def apply(self, query: sa.Select) -> sa.Select:
        """Narrow a query that already joins Booking, TrainingSession and Volunteer."""
        if self.session_id is not None:
            query = query.where(Booking.training_session_id == self.session_id)
        if self.date_from is not None:
            query = query.where(TrainingSession.starts_at >= _london_midnight(self.date_from))
        if self.date_to is not None:
            query = query.where(TrainingSession.starts_at < _london_midnight(self.date_to + timedelta(days=1)))
        if self.organisation_id is not None:
            query = query.where(Volunteer.organisation_id == self.organisation_id)
        if self.kind is not None:
            query = query.where(TrainingSession.kind == self.kind)
        return query

    def as_dict(self) -> dict:
        """For the download record and query strings: plain values, no personal data."""
        plain = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None}
        return {k: (v.value if isinstance(v, SessionKind) else v) for k, v in plain.items()}

    def query_args(self) -> dict:
        names = {
            "session_id": "session",
            "date_from": "from",
            "date_to": "to",
            "organisation_id": "organisation",
            "kind": "kind",
        }
        return {names[k]: v for k, v in self.as_dict().items()}


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LONDON)
