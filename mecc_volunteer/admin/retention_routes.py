"""The admin page for data retention: what the next run will remove and when, and what the last run did."""

from mecc_volunteer.admin import bp  # noqa: F401
