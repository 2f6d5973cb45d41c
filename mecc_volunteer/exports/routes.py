"""Evaluator downloads: parse the filters, check the role, record the download, then stream or send."""

from io import BytesIO

from flask import Response, render_template, request, send_file, stream_with_context
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.csv_export import stream_csv, write_csv
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import bp, services
from mecc_volunteer.extensions import db
from mecc_volunteer.models import StaffRole, utcnow

EVALUATORS = (StaffRole.EVALUATOR,)
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
        downloads=services.recent_downloads(),
    )


def _record(export_name: str, filters: ReviewFilters, row_count: int) -> None:
    staff_user_id = current_user.id
    # End the read transaction first, so the record is written in a transaction of its own.
    db.session.commit()
    services.record_download(staff_user_id, export_name, filters, row_count)
    db.session.commit()


def _filename(stem: str, extension: str) -> str:
    return f"mecc-{stem}-{utcnow().date().isoformat()}.{extension}"


@bp.get("/")
@roles_required(*EVALUATORS)
def index():
    filters, problems = ReviewFilters.from_args(request.args)
    if problems:
        return _page(filters, problems), 400
    return _page(filters)


@bp.get("/responses.csv")
@roles_required(*EVALUATORS)
def responses_csv():
    filters, error = _filters_or_page()
    if error:
        return error
    _record(services.RESPONSES_CSV, filters, services.count_responses(filters))
    headers, rows = services.responses(filters)
    response = Response(stream_with_context(stream_csv(headers, rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename("responses", "csv")}"'
    return response


@bp.get("/responses.xlsx")
@roles_required(*EVALUATORS)
def responses_xlsx():
    filters, error = _filters_or_page()
    if error:
        return error
    _record(services.RESPONSES_XLSX, filters, services.count_responses(filters))
    file = services.write_responses_xlsx(filters)
    return send_file(file, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=_filename("responses", "xlsx"))


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
        download_name=_filename("data-dictionary", "csv"),
    )
