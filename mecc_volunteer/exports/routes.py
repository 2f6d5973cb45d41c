"""Evaluator downloads: parse the filters, check the role, record the download, then stream or send."""

from io import BytesIO

from flask import Response, abort, flash, redirect, render_template, request, send_file, stream_with_context, url_for
from flask_login import current_user

from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.csv_export import stream_csv, write_csv
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.exports import bp, pack, prepared, services
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
    # Large files are prepared by the jobs runner instead of made while the browser waits (exports.prepared).
    row_count = 0 if problems else services.count_responses(filters)
    prepare = not problems and prepared.needs_preparing(row_count)
    prepare_csv = not problems and prepared.needs_preparing(row_count, services.RESPONSES_CSV)
    return render_template(
        "exports/index.html",
        filters=filters,
        args=request.args,
        problems=problems or {},
        sessions=sessions,
        organisations=organisations,
        kinds=list(SessionKind),
        downloads=services.recent_downloads(),
        prepare=prepare,
        prepare_csv=prepare_csv,
        prepared_downloads=[
            (d, prepared.label(d), prepared.filters_of(d)) for d in prepared.for_staff(current_user.id)
        ],
        statuses=prepared.PreparedStatus,
        pack_zip=pack.PACK_ZIP,
        responses_xlsx=services.RESPONSES_XLSX,
        responses_csv=services.RESPONSES_CSV,
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
    row_count = services.count_responses(filters, now=now)
    if prepared.needs_preparing(row_count):
        return _prepare_instead(filters)
    _record(pack.PACK_ZIP, filters, row_count)
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
    row_count = services.count_responses(filters, now=now)
    if prepared.needs_preparing(row_count, services.RESPONSES_CSV):
        return _prepare_instead(filters)
    _record(services.RESPONSES_CSV, filters, row_count)
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
    row_count = services.count_responses(filters, now=now)
    if prepared.needs_preparing(row_count):
        return _prepare_instead(filters)
    _record(services.RESPONSES_XLSX, filters, row_count)
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


# --- Prepared downloads (exports.prepared) ---------------------------------------------------------------------


def _prepare_instead(filters: ReviewFilters):
    """Too large to make while the browser waits: back to the page, where it can be prepared."""
    flash("This file is too large to make while you wait. Ask for it to be prepared, below.", "info")
    return redirect(url_for("exports.index", **filters.query_args()), 303)


@bp.post("/prepare")
@roles_required(*EVALUATORS)
def prepare():
    filters, error = _filters_or_page()
    if error:
        return error
    export_name = request.form.get("export", "")
    if export_name not in prepared.KINDS:
        abort(400)
    prepared.request_download(current_user.id, export_name, filters)
    db.session.commit()
    flash(
        f"{prepared.KINDS[export_name][3]} is being prepared. It will be ready to download here in a few minutes.",
        "success",
    )
    return redirect(url_for("exports.index", **filters.query_args()), 303)


@bp.get("/prepared/<int:download_id>")
@roles_required(*EVALUATORS)
def prepared_download(download_id: int):
    download = prepared.ready_for(download_id, current_user.id)
    if download is None:
        abort(404)
    export_name, row_count, size = download.export_name, download.row_count, download.size
    name = download.download_name or export_name
    _record(export_name, prepared.filters_of(download), row_count)
    mimetype = prepared.MIMETYPES[export_name]
    response = Response(stream_with_context(prepared.parts(download_id)), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if not mimetype.startswith("text/"):  # text is compressed on the way (compression.py), so its length changes
        response.headers["Content-Length"] = str(size)
    return response
