"""Thin click commands over services: parse, call, commit, print one line."""

import click
from flask import Flask

from mecc_volunteer.extensions import db


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
    def mail():
        """The outgoing email queue."""

    @mail.command("deliver")
    def mail_deliver():
        """Send queued email that is due (retries with back-off)."""
        from mecc_volunteer.mail import deliver_pending

        report = deliver_pending()
        db.session.commit()
        click.echo(f"Mail: {report}.")
