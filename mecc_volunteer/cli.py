"""Thin click commands over services: parse, call, commit, print one line."""

import click
from flask import Flask

from mecc_volunteer.extensions import db
from mecc_volunteer.models import StaffRole


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
        """Create a staff account; asks for the password. There are no default accounts."""
        from mecc_volunteer.auth.services import create_staff
        from mecc_volunteer.errors import DomainError

        try:
            account = create_staff(email, name=name or email.split("@")[0], role=StaffRole(role), password=password)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        db.session.commit()
        click.echo(f"Created {account.role.value} account {account.id}.")

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
