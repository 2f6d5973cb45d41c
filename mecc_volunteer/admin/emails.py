"""What the admin area emails staff: an invitation to set up an account, or a password reset link. Rendered from
email/staff_invitation.txt and .html, email/password_reset.txt and .html; the link's secret is only in the email."""

from flask import render_template

from mecc_volunteer import settings
from mecc_volunteer.auth.staff_links import LIFETIMES
from mecc_volunteer.mail import queue_email
from mecc_volunteer.models import OutgoingEmail, StaffLink, StaffLinkPurpose, StaffUser
from mecc_volunteer.urls import external_url

TEMPLATES = {
    StaffLinkPurpose.INVITATION: "staff_invitation",
    StaffLinkPurpose.PASSWORD_RESET: "password_reset",
}


def _lasts(link: StaffLink) -> str:
    lifetime = LIFETIMES[link.purpose]
    if lifetime.days:
        return f"{lifetime.days} days" if lifetime.days != 1 else "1 day"
    hours = lifetime.seconds // 3600
    return f"{hours} hours" if hours != 1 else "1 hour"


def queue_staff_link(staff: StaffUser, link: StaffLink, token: str) -> OutgoingEmail | None:
    """The invitation or password reset email for the link, in the outbox (once per link)."""
    programme = settings.current()
    template = TEMPLATES[link.purpose]
    context = {
        "staff": staff,
        "url": external_url("auth.set_password", token=token),
        "lasts": _lasts(link),
        "sign_in_url": external_url("auth.sign_in"),
        "service_name": programme.service_name,
        "organisation_name": programme.organisation_name,
        "contact_email": programme.contact_email,
    }
    if link.purpose is StaffLinkPurpose.INVITATION:
        subject = f"You're invited to manage {programme.service_name}"
    else:
        subject = f"Reset your password for {programme.service_name}"
    return queue_email(
        template=template,
        to=staff.email,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        dedupe_key=f"staff-link:{link.id}",
    )
