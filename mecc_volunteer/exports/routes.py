"""Evaluator downloads: parse the filters, check the role, record the download, then stream or send."""

from io import BytesIO

from flask import Response, render_template, request, send_file, stream_with_context
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.csv_export import stream_csv, write_csv
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import bp, pack, services
from mecc_volunteer.extensions import db
from mecc_volunteer.models import SessionKind, StaffRole, utcnow

EVALUATORS = (StaffRole.EVALUATOR,)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MIMETYPE = "application/zip"


def _filters_or_page():
    """(filters, None), or (None, the downloads page with the problems, status 400)."""
    filters, problems = ReviewFilters.from_args(request.args)
    if problems:
        return None, (_page(filters, problems), 400)
    return filters, None


def _page(filters: ReviewFilters, problems: dict[str, str] | None = None) -> str:
    sessions, organisations = services.filter_choices()
    return render_template(
        "exports/index.html",
        filters=filters,
        args=request.args,
        problems=problems or {},
        sessions=sessions,
        organisations=organisations,
        kinds=list(SessionKind),
        downloads=services.recent_downloads(),
    )


def _record(export_name: str, filters: ReviewFilters, row_count: int) -> None:
    staff_user_id = current_user.id
    # End the read transaction first, so the record is written in a transaction of its own.
    db.session.commit()
    services.record_download(staff_user_id, export_name, filters, row_count)
    db.session.commit()


@bp.get("/")
@roles_required(*EVALUATORS)
def index():
    filters, problems = ReviewFilters.from_args(request.args)
    if problems:
        return _page(filters, problems), 400
    return _page(filters)


@bp.get("/evaluator-pack.zip")
@roles_required(*EVALUATORS)
def evaluator_pack():
    filters, error = _filters_or_page()
    if error:
        return error
    now = utcnow()
    _record(pack.PACK_ZIP, filters, services.count_responses(filters, now=now))
    file = pack.write_evaluator_pack(filters, now=now)
    return send_file(
        file,
        mimetype=ZIP_MIMETYPE,
        as_attachment=True,
        download_name=services.filename("evaluator-pack", "zip", filters, now=now),
    )


@bp.get("/responses.csv")
@roles_required(*EVALUATORS)
def responses_csv():
    filters, error = _filters_or_page()
    if error:
        return error
    now = utcnow()
    _record(services.RESPONSES_CSV, filters, services.count_responses(filters, now=now))
    headers, rows = services.responses(filters, now=now)
    response = Response(stream_with_context(stream_csv(headers, rows)), mimetype="text/csv")
    name = services.filename("responses", "csv", filters, now=now)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/responses.xlsx")
@roles_required(*EVALUATORS)
def responses_xlsx():
    filters, error = _filters_or_page()
    if error:
        return error
    now = utcnow()
    _record(services.RESPONSES_XLSX, filters, services.count_responses(filters, now=now))
    file = services.write_responses_xlsx(filters, now=now)
    return send_file(
        file,
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=services.filename("responses", "xlsx", filters, now=now),
    )


@bp.get("/data-dictionary.csv")
@roles_required(*EVALUATORS)
def dictionary_csv():
    filters, error = _filters_or_page()
    if error:
        return error
    headers, rows = services.data_dictionary()
    _record(services.DICTIONARY_CSV, filters, len(rows))
    return send_file(
        BytesIO(write_csv(headers, rows)),
        mimetype="text/csv",
        as_attachment=True,
        download_name=services.filename("data-dictionary", "csv", filters),
    )
