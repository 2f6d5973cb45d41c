"""Thin click commands over services: parse, call, commit, print one line."""

import click
from flask import Flask

from mecc_volunteer.extensions import db
from mecc_volunteer.models import StaffRole
from mecc_volunteer.transactions import attempt


def _commit_or_explain(action):
    """Run a staff service and commit; a broken rule is printed as the command's error, with nothing changed."""
    done = attempt(action)
    if done.error is not None:
        raise click.ClickException(done.error.message)
    return done.result


def register_cli(app: Flask) -> None:
    @app.cli.group()
    def demo():
        """Demo data."""

    @demo.command("load")
    def demo_load():
        """Load the demo programme, sessions and volunteers into an empty database."""
        from mecc_volunteer.demo import load_demo

        if load_demo():
            db.session.commit()
            click.echo("Demo data loaded.")
        else:
            click.echo("The database already has data; demo not loaded.")

    @app.cli.group()
    def staff():
        """Staff accounts."""

    @staff.command("create")
    @click.argument("email")
    @click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
    @click.option("--name", default=None, help="Full name (defaults to the part of the email before @).")
    @click.password_option(prompt="Password (12 characters or more)")
    def staff_create(email, role, name, password):
        """Create a staff account; asks for the password. There are no default accounts. The account sets up
        its authenticator app at its first sign-in."""
        from mecc_volunteer import audit
        from mecc_volunteer.auth.services import create_staff

        account = _commit_or_explain(
            lambda: create_staff(
                email, name=name or email.split("@")[0], role=StaffRole(role), password=password, by=audit.SYSTEM
            )
        )
        click.echo(
            f"Created {account.role.value} account {account.id}; it sets up an authenticator app at first sign-in."
        )

    @staff.command("set-password")
    @click.argument("email")
    @click.password_option(prompt="New password (12 characters or more)")
    def staff_set_password(email, password):
        """Set a new password; asks for it. Every session of the account ends."""
        from mecc_volunteer.auth.services import change_password, find_staff

        account = _commit_or_explain(lambda: change_password(find_staff(email), password))
        click.echo(f"Changed the password of account {account.id}; its sessions have ended.")

    @staff.command("deactivate")
    @click.argument("email")
    def staff_deactivate(email):
        """Stop an account signing in, and end every session of it."""
        from mecc_volunteer.auth.services import deactivate_staff, find_staff

        account = _commit_or_explain(lambda: deactivate_staff(find_staff(email)))
        click.echo(f"Deactivated account {account.id}; its sessions have ended.")

    @staff.command("reactivate")
    @click.argument("email")
    def staff_reactivate(email):
        """Let a deactivated account sign in again (with its password)."""
        from mecc_volunteer.auth.services import find_staff, reactivate_staff

        account = _commit_or_explain(lambda: reactivate_staff(find_staff(email)))
        click.echo(f"Reactivated account {account.id}.")

    @app.cli.group()
    def mail():
        """The outgoing email queue."""

    @mail.command("deliver")
    def mail_deliver():
        """Send queued email that is due (retries with back-off)."""
        from mecc_volunteer.mail import deliver_pending

        report = deliver_pending()
        db.session.commit()
        click.echo(f"Mail: {report}.")

    @app.cli.group()
    def jobs():
        """Scheduled work: run `flask jobs run` every minute (cron)."""

    @jobs.command("run")
    def jobs_run():
        """Do what is due (day-before reminders, waiting-list places), then send queued email. Safe to repeat."""
        from mecc_volunteer.jobs import run_due_jobs

        report = run_due_jobs()
        click.echo(f"Jobs: {report}.")
        if report.failed:
            raise SystemExit(1)

    @app.cli.command("backup")
    @click.option(
        "--out",
        "out",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="File to write (default: instance/backups/mecc_volunteer-<UTC time>.sqlite or .dump).",
    )
    def backup(out):
        """Back up the database while the app runs: SQLite's online backup, or pg_dump --format=custom."""
        from pathlib import Path

        from mecc_volunteer import backups
        from mecc_volunteer.models import utcnow

        url = db.engine.url
        path = Path(out) if out else backups.default_path(app.instance_path, url, utcnow())
        try:
            size = backups.back_up(url, path, pg_dump=app.config.get("PG_DUMP", "pg_dump"))
        except backups.BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Backed up the database to {path} ({size} bytes).")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--yes", is_flag=True, help="Replace a database that already holds data.")
    def restore(path, yes):
        """Restore a backup made by `flask backup` into this app's database (an SQLite file, or an existing
        PostgreSQL database). Refuses a database holding data without --yes. Restart the app servers afterwards."""
        from pathlib import Path

        from mecc_volunteer import backups

        db.session.remove()
        try:
            backups.restore(db.engine, Path(path), replace=yes, pg_restore=app.config.get("PG_RESTORE", "pg_restore"))
        except backups.BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(
            f"Restored {path}. Restart the app servers; run `flask db upgrade` if the backup is from an older version."
        )

    @app.cli.group()
    def export():
        """Evaluation downloads (pseudonymous), the same files as /manage/exports/."""

    def export_filters(session, date_from, date_to, organisation):
        from mecc_volunteer.evaluation.filters import ReviewFilters

        args = {"session": session, "from": date_from, "to": date_to, "organisation": organisation}
        filters, problems = ReviewFilters.from_args({k: v for k, v in args.items() if v is not None})
        if problems:
            raise click.ClickException("; ".join(problems.values()))
        return filters

    def filter_options(command):
        command = click.option("--organisation", default=None, help="Only this organisation id.")(command)
        command = click.option("--to", "date_to", default=None, help="Sessions on or before this date (YYYY-MM-DD).")(
            command
        )
        command = click.option(
            "--from", "date_from", default=None, help="Sessions on or after this date (YYYY-MM-DD)."
        )(command)
        return click.option("--session", default=None, help="Only this session id.")(command)

    @export.command("responses")
    @click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write.")
    @click.option("--format", "file_format", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
    @filter_options
    def export_responses(out, file_format, session, date_from, date_to, organisation):
        """One row per booking holding a place at a session that has taken place, under a respondent code."""
        from mecc_volunteer.csv_export import stream_csv
        from mecc_volunteer.exports import services
        from mecc_volunteer.models import utcnow

        filters = export_filters(session, date_from, date_to, organisation)
        now = utcnow()
        row_count = services.count_responses(filters, now=now)
        with open(out, "wb") as handle:
            if file_format == "csv":
                headers, rows = services.responses(filters, now=now)
                for chunk in stream_csv(headers, rows):
                    handle.write(chunk)
            else:
                services.write_responses_xlsx(filters, file=handle, now=now)
        db.session.commit()
        name = services.RESPONSES_CSV if file_format == "csv" else services.RESPONSES_XLSX
        services.record_download(None, name, filters, row_count)
        db.session.commit()
        click.echo(f"Wrote {row_count} responses to {out}.")

    @export.command("pack")
    @click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write.")
    @filter_options
    def export_pack(out, session, date_from, date_to, organisation):
        """The evaluator pack (ZIP): responses as CSV and XLSX, the data dictionary and the method note."""
        from mecc_volunteer.exports import pack, services
        from mecc_volunteer.models import utcnow

        filters = export_filters(session, date_from, date_to, organisation)
        now = utcnow()
        row_count = services.count_responses(filters, now=now)
        with open(out, "wb") as handle:
            pack.write_evaluator_pack(filters, now=now, file=handle)
        db.session.commit()
        services.record_download(None, pack.PACK_ZIP, filters, row_count)
        db.session.commit()
        click.echo(f"Wrote the evaluator pack ({row_count} responses) to {out}.")
