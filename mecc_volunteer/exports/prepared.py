"""Downloads too large to make within a request (issue 11): the responses of a large pilot take minutes to write
(bench/long_downloads.py: 300,000 rows of CSV took 169 s on a busy 2-CPU machine, streamed with flat memory), and
gunicorn kills a sync worker whose request takes longer than GUNICORN_TIMEOUT (120 s), streamed or not. Above
PREPARE_ABOVE_ROWS rows the evaluator asks for the file (the CSV, the XLSX or the pack); `flask jobs run` makes
it, after the mail, and keeps it in the database in pieces (models/prepared_download.py), so any app server can
send it; the evaluator who asked downloads it from the downloads page until it expires (KEEP_FOR), when the next
run deletes it. Each download is recorded as the direct ones are (routes._record).

A request is claimed by a conditional update, so two jobs runners (two servers) never make the same file; one
claimed by a runner that died is claimed again after STUCK_AFTER.
"""

import logging
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import IO

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import MultiDict

from mecc_volunteer.csv_export import stream_csv
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import pack, services
from mecc_volunteer.extensions import db
from mecc_volunteer.models import utcnow
from mecc_volunteer.models.prepared_download import PreparedDownload, PreparedDownloadPart, PreparedStatus
from mecc_volunteer.transactions import rows_changed

log = logging.getLogger(__name__)

# Rows above which the XLSX and the pack are prepared rather than made in the request (config
# DOWNLOAD_PREPARE_ABOVE_ROWS). Measured on a busy 2-CPU machine: about 1,800 rows a second for the CSV and 1,000
# for the XLSX or the pack, so 20,000 rows is about 20 s, well within gunicorn's 120 s.
PREPARE_ABOVE_ROWS = 20_000
# The CSV streams with flat memory and is quicker to write: it is prepared only above this many rows (config
# DOWNLOAD_STREAM_CSV_UP_TO_ROWS); 100,000 rows took about 56 s on the busy machine.
STREAM_CSV_UP_TO_ROWS = 100_000
KEEP_FOR = timedelta(hours=24)  # config DOWNLOAD_KEEP_HOURS
STUCK_AFTER = timedelta(hours=1)  # a runner that died while making the file
PART_SIZE = 1 << 20
SHOWN = 10  # an evaluator's prepared downloads listed on the page


def _write_csv(filters: ReviewFilters, now: datetime, file: IO[bytes]) -> None:
    headers, rows = services.responses(filters, now=now)
    for chunk in stream_csv(headers, rows):
        file.write(chunk)


def _write_xlsx(filters: ReviewFilters, now: datetime, file: IO[bytes]) -> None:
    services.write_responses_xlsx(filters, now=now, file=file)


def _write_pack(filters: ReviewFilters, now: datetime, file: IO[bytes]) -> None:
    pack.write_evaluator_pack(filters, now=now, file=file)


# What can be prepared: its recorded name -> (file name stem, extension, what makes it, its name in words).
KINDS: dict[str, tuple[str, str, Callable[[ReviewFilters, datetime, IO[bytes]], None], str]] = {
    pack.PACK_ZIP: ("evaluator-pack", "zip", _write_pack, "Evaluator pack (ZIP)"),
    services.RESPONSES_CSV: ("responses", "csv", _write_csv, "Responses (CSV)"),
    services.RESPONSES_XLSX: ("responses", "xlsx", _write_xlsx, "Responses and data dictionary (XLSX)"),
}
MIMETYPES = {
    pack.PACK_ZIP: "application/zip",
    services.RESPONSES_CSV: "text/csv",
    services.RESPONSES_XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def prepare_above_rows() -> int:
    return int(current_app.config.get("DOWNLOAD_PREPARE_ABOVE_ROWS", PREPARE_ABOVE_ROWS))


def keep_for() -> timedelta:
    return timedelta(hours=float(current_app.config.get("DOWNLOAD_KEEP_HOURS", KEEP_FOR.total_seconds() / 3600)))


def needs_preparing(row_count: int, export_name: str | None = None) -> bool:
    """Whether a file of this many rows is prepared by the jobs runner (the CSV: only above its own limit)."""
    if export_name == services.RESPONSES_CSV:
        return row_count > int(current_app.config.get("DOWNLOAD_STREAM_CSV_UP_TO_ROWS", STREAM_CSV_UP_TO_ROWS))
    return row_count > prepare_above_rows()


def filters_of(download: PreparedDownload) -> ReviewFilters:
    filters, _problems = ReviewFilters.from_args(MultiDict(download.filters or {}))
    return filters


def label(download: PreparedDownload) -> str:
    return KINDS[download.export_name][3]


# --- Asking, listing, sending --------------------------------------------------------------------------------


def request_download(
    staff_user_id: int, export_name: str, filters: ReviewFilters, *, now: datetime | None = None
) -> PreparedDownload:
    """Ask for a file; the same request still waiting or being made is not asked for twice."""
    if export_name not in KINDS:
        raise ValueError(export_name)
    arguments = {key: str(value) for key, value in filters.query_args().items()}
    waiting = db.session.scalars(
        sa.select(PreparedDownload).where(
            PreparedDownload.staff_user_id == staff_user_id,
            PreparedDownload.export_name == export_name,
            PreparedDownload.status.in_([PreparedStatus.REQUESTED, PreparedStatus.PREPARING]),
        )
    ).all()
    for download in waiting:
        if download.filters == arguments:
            return download
    download = PreparedDownload(
        staff_user_id=staff_user_id, export_name=export_name, filters=arguments, requested_at=now or utcnow()
    )
    db.session.add(download)
    db.session.flush()
    return download


def for_staff(staff_user_id: int, *, now: datetime | None = None) -> list[PreparedDownload]:
    """The evaluator's own prepared downloads that have not expired, newest first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(PreparedDownload)
            .where(
                PreparedDownload.staff_user_id == staff_user_id,
                sa.or_(PreparedDownload.expires_at.is_(None), PreparedDownload.expires_at > now),
            )
            .order_by(PreparedDownload.requested_at.desc(), PreparedDownload.id.desc())
            .limit(SHOWN)
        )
    )


def ready_for(download_id: int, staff_user_id: int, *, now: datetime | None = None) -> PreparedDownload | None:
    """The file, if it is this evaluator's, ready and not expired."""
    download = db.session.get(PreparedDownload, download_id)
    now = now or utcnow()
    if (
        download is None
        or download.staff_user_id != staff_user_id
        or download.status is not PreparedStatus.READY
        or (download.expires_at is not None and download.expires_at <= now)
    ):
        return None
    return download


def parts(download_id: int) -> Iterator[bytes]:
    """The file's bytes, a piece at a time (one query each, so memory stays flat however large it is)."""
    seq = 0
    while True:
        data = db.session.scalar(
            sa.select(PreparedDownloadPart.data).where(
                PreparedDownloadPart.download_id == download_id, PreparedDownloadPart.seq == seq
            )
        )
        if data is None:
            return
        yield bytes(data)
        seq += 1


# --- The job ---------------------------------------------------------------------------------------------------


def prepare_due(now: datetime) -> tuple[int, int]:
    """`flask jobs run`, after the mail: delete what has expired, then make every file asked for, one at a time.
    (prepared, failed). Commits as it goes: a claim, then each file, in transactions of their own."""
    delete_expired(now)
    db.session.commit()
    prepared = failed = 0
    while (download_id := _claim_next(now)) is not None:
        if _prepare(download_id, now):
            prepared += 1
        else:
            failed += 1
    return prepared, failed


def _claim_next(now: datetime) -> int | None:
    claimable = sa.or_(
        PreparedDownload.status == PreparedStatus.REQUESTED,
        sa.and_(PreparedDownload.status == PreparedStatus.PREPARING, PreparedDownload.claimed_at < now - STUCK_AFTER),
    )
    for download_id in db.session.scalars(
        sa.select(PreparedDownload.id).where(claimable).order_by(PreparedDownload.requested_at, PreparedDownload.id)
    ).all():
        claimed = rows_changed(
            sa.update(PreparedDownload)
            .where(PreparedDownload.id == download_id, claimable)
            .values(status=PreparedStatus.PREPARING, claimed_at=utcnow())
        )
        db.session.commit()
        if claimed:
            return download_id
    return None


def _prepare(download_id: int, now: datetime) -> bool:
    download = db.session.get(PreparedDownload, download_id)
    if download is None:  # pragma: no cover - deleted while it was being claimed
        return False
    try:
        stem, extension, write, _ = KINDS[download.export_name]
        filters = filters_of(download)
        made_at = utcnow()
        row_count = services.count_responses(filters, now=made_at)
        with tempfile.TemporaryFile() as file:
            write(filters, made_at, file)
            size = file.tell()
            file.seek(0)
            db.session.execute(sa.delete(PreparedDownloadPart).where(PreparedDownloadPart.download_id == download_id))
            seq = 0
            while data := file.read(PART_SIZE):
                db.session.add(PreparedDownloadPart(download_id=download_id, seq=seq, data=data))
                db.session.flush()
                db.session.expunge_all()  # each piece leaves memory once written
                seq += 1
        done = utcnow()
        db.session.execute(
            sa.update(PreparedDownload)
            .where(PreparedDownload.id == download_id)
            .values(
                status=PreparedStatus.READY,
                ready_at=done,
                expires_at=done + keep_for(),
                download_name=services.filename(stem, extension, filters, now=made_at),
                row_count=row_count,
                size=size,
            )
        )
        db.session.commit()
        return True
    except Exception as error:
        db.session.rollback()
        # The type only: database errors quote parameters.
        log.error("prepared download %s failed: %s", download_id, type(error).__name__)
        db.session.execute(
            sa.update(PreparedDownload)
            .where(PreparedDownload.id == download_id)
            .values(status=PreparedStatus.FAILED, expires_at=now + keep_for())
        )
        db.session.execute(sa.delete(PreparedDownloadPart).where(PreparedDownloadPart.download_id == download_id))
        db.session.commit()
        return False


def delete_expired(now: datetime) -> int:
    expired = sa.select(PreparedDownload.id).where(PreparedDownload.expires_at <= now)
    db.session.execute(sa.delete(PreparedDownloadPart).where(PreparedDownloadPart.download_id.in_(expired)))
    return rows_changed(sa.delete(PreparedDownload).where(PreparedDownload.expires_at <= now))
