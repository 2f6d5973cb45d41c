"""The admin area's pages: staff accounts, organisations, organisation types, areas and programme settings."""

from mecc_volunteer.admin import bp  # noqa: F401
