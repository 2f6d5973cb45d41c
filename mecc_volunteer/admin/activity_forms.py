"""The activity page's GET filter (no CSRF: it changes nothing)."""

from flask_wtf import FlaskForm
from wtforms import SelectField

from mecc_volunteer import audit
from mecc_volunteer.forms import options

# The empty choice, "Everything", is the select's placeholder.
GROUP_CHOICES = [*((key, label) for key, (label, _) in audit.ACTIVITY_GROUPS.items())]
GROUP_CHOICES.append(("bookings", "Bookings, sessions and messages"))


class ActivityFilterForm(FlaskForm):
    class Meta:
        csrf = False

    group = SelectField(choices=options(GROUP_CHOICES), validate_choice=False)

    @property
    def chosen(self) -> str | None:
        """The group asked for, or None for everything (an unknown value shows everything too)."""
        return self.group.data if self.group.data in dict(GROUP_CHOICES) else None
