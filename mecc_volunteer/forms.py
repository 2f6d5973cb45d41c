"""Forms shared by every area."""

from flask_wtf import FlaskForm
from wtforms import HiddenField


class ConfirmForm(FlaskForm):
    """A one-button action (cancel, sign out, send): CSRF only."""

    confirm = HiddenField(default="yes")
