"""The admin area's rules and writes: staff accounts, the reference lists (organisations, organisation types and
areas) and the programme settings.

One function per action. Each takes the admin as `by=`, records the action in the audit trail, flushes when it
needs ids and never commits (the view does, through transactions.attempt). A broken rule raises a DomainError
with a message for the page."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from mecc_volunteer import audit, limits, settings
from mecc_volunteer.admin import emails
from mecc_volunteer.auth import services as auth_services
from mecc_volunteer.auth import staff_links
from mecc_volunteer.errors import DomainError
from mecc_volunteer.extensions import db
from mecc_volunteer.models import (
    AuditAction,
    District,
    Organisation,
    OrganisationType,
    Programme,
    StaffLinkPurpose,
    StaffRole,
    StaffUser,
    utcnow,
)

# --- Staff accounts ------------------------------------------------------------------------------------------


class CannotChangeYourself(DomainError):
    message = "You cannot do that to your own account. Ask another admin."


class LastAdmin(DomainError):
    message = "This is the only active admin account. Make someone else an admin first, so the pilot keeps an admin."


class AccountDeactivated(DomainError):
    message = "This account is deactivated. Reactivate it first."


class NoSecondFactor(DomainError):
    message = "This person has not set up an authenticator app, so there is nothing to reset."


def list_staff() -> list[StaffUser]:
    """Every staff account: active ones first, then by name."""
    return list(
        db.session.scalars(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.name, StaffUser.id))
    )


def invite_staff(email: str, *, name: str, role: StaffRole, by: StaffUser, now: datetime | None = None) -> StaffUser:
    """A new account with no password yet, and an email with a single-use link (7 days) to choose one."""
    now = now or utcnow()
    email = auth_services.staff_email(email)
    if db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise auth_services.StaffExists()
    staff = StaffUser(email=email, name=name, role=role, password_hash=None, created_at=now)
    db.session.add(staff)
    db.session.flush()
    link, token = staff_links.issue_staff_link(staff, StaffLinkPurpose.INVITATION, now=now)
    emails.queue_staff_link(staff, link, token)
    audit.record(AuditAction.STAFF_INVITED, by=by, now=now, target_staff_user=staff, detail=f"as {role.value}")
    return staff


def _ensure_another_admin(staff: StaffUser) -> None:
    """LastAdmin unless an active admin other than `staff` remains. Two admins demoting each other at once queue
    on one lock, so the second sees the first's change and the pilot always keeps an admin."""
    limits.lock("admin-accounts", "all")
    others = db.session.execute(
        sa.select(sa.func.count(StaffUser.id)).where(
            StaffUser.role == StaffRole.ADMIN,
            StaffUser.active.is_(True),
            StaffUser.password_hash.is_not(None),
            StaffUser.id != staff.id,
        )
    ).scalar_one()
    if not others:
        raise LastAdmin()


def change_role(staff: StaffUser, role: StaffRole, *, by: StaffUser) -> StaffUser:
    """The new role applies from the person's next page. An admin cannot demote themselves (they would lose this
    page), and the last active admin keeps the role."""
    if role is staff.role:
        return staff
    if staff.role is StaffRole.ADMIN:
        if staff.id == by.id:
            raise CannotChangeYourself("You cannot change your own role. Ask another admin.")
        _ensure_another_admin(staff)
    old = staff.role
    staff.role = role
    db.session.flush()
    audit.record(AuditAction.ROLE_CHANGED, by=by, target_staff_user=staff, detail=f"{old.value} to {role.value}")
    return staff


def deactivate(staff: StaffUser, *, by: StaffUser) -> StaffUser:
    """The person can no longer sign in, and every session of theirs ends now."""
    if staff.id == by.id:
        raise CannotChangeYourself("You cannot deactivate your own account. Ask another admin.")
    if not staff.active:
        return staff
    if staff.role is StaffRole.ADMIN:
        _ensure_another_admin(staff)
    auth_services.deactivate_staff(staff)
    audit.record(AuditAction.STAFF_DEACTIVATED, by=by, target_staff_user=staff)
    return staff


def reactivate(staff: StaffUser, *, by: StaffUser) -> StaffUser:
    """The person can sign in again with their password (sessions ended on deactivation stay ended)."""
    if staff.active:
        return staff
    auth_services.reactivate_staff(staff)
    audit.record(AuditAction.STAFF_REACTIVATED, by=by, target_staff_user=staff)
    return staff


def reset_second_factor(staff: StaffUser, *, by: StaffUser) -> StaffUser:
    """For someone who has lost their authenticator app: they set it up again at their next sign-in. Not for
    your own account (you would be signed out with no way back in but your recovery codes)."""
    if staff.id == by.id:
        raise CannotChangeYourself(
            "You cannot reset your own authenticator app. Ask another admin, or sign in with a recovery code."
        )
    if staff.totp_secret is None:
        raise NoSecondFactor()
    return auth_services.reset_second_factor(staff, by=by)


def sign_out_everywhere(staff: StaffUser, *, by: StaffUser) -> StaffUser:
    """Every session of the account ends (a lost laptop, a shared computer)."""
    auth_services.end_sessions(staff)
    audit.record(AuditAction.SIGNED_OUT_EVERYWHERE, by=by, target_staff_user=staff)
    return staff


def send_password_link(staff: StaffUser, *, by: StaffUser, now: datetime | None = None) -> StaffLinkPurpose:
    """A password reset link (24 hours) by email; for someone who has not set a password yet, a new invitation
    (7 days). Either way the earlier link of that kind stops working."""
    now = now or utcnow()
    if not staff.active:
        raise AccountDeactivated()
    purpose = StaffLinkPurpose.INVITATION if staff.password_hash is None else StaffLinkPurpose.PASSWORD_RESET
    link, token = staff_links.issue_staff_link(staff, purpose, now=now)
    emails.queue_staff_link(staff, link, token)
    if purpose is StaffLinkPurpose.INVITATION:
        audit.record(AuditAction.STAFF_INVITED, by=by, now=now, target_staff_user=staff, detail="invitation sent again")
    else:
        audit.record(AuditAction.PASSWORD_RESET_SENT, by=by, now=now, target_staff_user=staff)
    return purpose


# --- Reference lists: organisations, organisation types, areas ---------------------------------------------------

Item = Organisation | OrganisationType | District


def column_length(column: sa.ColumnElement) -> int:
    """The declared length of a text column (String(120) -> 120)."""
    length = getattr(column.type, "length", None)
    if not isinstance(length, int):  # pragma: no cover - every column asked about has a length
        raise TypeError(f"{column} has no length")
    return length


@dataclass(frozen=True)
class ReferenceList:
    """One of the admin's lists: its table, what one row is called, and its audit actions."""

    model: type[Organisation] | type[OrganisationType] | type[District]
    noun: str
    max_name_length: int
    added: AuditAction
    changed: AuditAction
    retired: AuditAction
    restored: AuditAction


ORGANISATIONS = ReferenceList(
    Organisation,
    "organisation",
    column_length(Organisation.__table__.c.name),
    AuditAction.ORGANISATION_ADDED,
    AuditAction.ORGANISATION_CHANGED,
    AuditAction.ORGANISATION_RETIRED,
    AuditAction.ORGANISATION_RESTORED,
)
ORGANISATION_TYPES = ReferenceList(
    OrganisationType,
    "organisation type",
    column_length(OrganisationType.__table__.c.name),
    AuditAction.ORGANISATION_TYPE_ADDED,
    AuditAction.ORGANISATION_TYPE_CHANGED,
    AuditAction.ORGANISATION_TYPE_RETIRED,
    AuditAction.ORGANISATION_TYPE_RESTORED,
)
AREAS = ReferenceList(
    District,
    "area",
    column_length(District.__table__.c.name),
    AuditAction.AREA_ADDED,
    AuditAction.AREA_CHANGED,
    AuditAction.AREA_RETIRED,
    AuditAction.AREA_RESTORED,
)


class NameTaken(DomainError):
    message = "There is already one with that name."


class AtTheEnd(DomainError):
    message = "It is already at the end of the list."


class TypeRetired(DomainError):
    message = "That organisation type is retired. Choose another, or restore it first."


def list_items(kind: ReferenceList) -> list:
    """The list in its order (the order volunteers see it in), retired rows included."""
    query = sa.select(kind.model).order_by(kind.model.sort_order, kind.model.name, kind.model.id)
    if kind.model is Organisation:
        query = query.options(selectinload(Organisation.organisation_type))
    return list(db.session.scalars(query))


def organisation_type_choices(current: OrganisationType | None = None) -> list[OrganisationType]:
    """The types a new or changed organisation may have: those not retired, and the one it has already."""
    return [t for t in list_items(ORGANISATION_TYPES) if t.retired_at is None or (current and t.id == current.id)]


def _detail(kind: ReferenceList, item: Item, what: str | None = None) -> str:
    text = f"{kind.noun} {item.id} {item.name}"
    if what:
        text = f"{what}: {text}"
    return text[:200]


def _check_name(kind: ReferenceList, name: str, *, item: Item | None = None) -> str:
    """The name, if no other row of the list has it (ignoring case)."""
    name = name.strip()
    if not name:
        raise DomainError(f"Enter the name of the {kind.noun}")
    if len(name) > kind.max_name_length:
        raise DomainError(f"The name must be {kind.max_name_length} characters or fewer")
    # The lists are short: compare in Python, where casefold() knows every alphabet (SQLite's lower() does not).
    wanted = name.casefold()
    for other_id, other_name in db.session.execute(sa.select(kind.model.id, kind.model.name)):
        if other_name.casefold() == wanted and (item is None or other_id != item.id):
            raise NameTaken(
                f"There is already an {kind.noun} called {other_name}"
                if kind.noun[0] in "aeiou"
                else f"There is already a {kind.noun} called {other_name}"
            )
    return name


def _renumber(items: list) -> None:
    for position, row in enumerate(items):
        if row.sort_order != position:
            row.sort_order = position


def _add(kind: ReferenceList, item: Item, *, by: StaffUser) -> Item:
    """Add the row at the end of the list, or just before "Other" for an organisation (Other stays last)."""
    items = list_items(kind)
    other = next((i for i, row in enumerate(items) if getattr(row, "is_other", False)), None)
    items.insert(other if other is not None else len(items), item)
    _renumber(items)
    db.session.add(item)
    db.session.flush()
    audit.record(kind.added, by=by, detail=_detail(kind, item))
    return item


def add_organisation(name: str, *, organisation_type: OrganisationType, by: StaffUser) -> Organisation:
    if organisation_type.retired_at is not None:
        raise TypeRetired()
    organisation = Organisation(name=_check_name(ORGANISATIONS, name), organisation_type=organisation_type)
    _add(ORGANISATIONS, organisation, by=by)
    return organisation


def add_organisation_type(name: str, *, by: StaffUser) -> OrganisationType:
    organisation_type = OrganisationType(name=_check_name(ORGANISATION_TYPES, name))
    _add(ORGANISATION_TYPES, organisation_type, by=by)
    return organisation_type


def add_area(name: str, *, by: StaffUser) -> District:
    area = District(name=_check_name(AREAS, name))
    _add(AREAS, area, by=by)
    return area


def _rename(kind: ReferenceList, item: Item, name: str) -> list[str]:
    name = _check_name(kind, name, item=item)
    if name == item.name:
        return []
    item.name = name
    return ["name"]


def update_organisation(
    organisation: Organisation, *, name: str, organisation_type: OrganisationType, by: StaffUser
) -> list[str]:
    """Rename it or change its type; old bookings show the new name. Returns what changed."""
    changed = _rename(ORGANISATIONS, organisation, name)
    if organisation_type.id != organisation.organisation_type_id:
        if organisation_type.retired_at is not None:
            raise TypeRetired()
        organisation.organisation_type = organisation_type
        changed.append("type")
    if changed:
        db.session.flush()
        audit.record(ORGANISATIONS.changed, by=by, detail=_detail(ORGANISATIONS, organisation, ", ".join(changed)))
    return changed


def update_organisation_type(organisation_type: OrganisationType, *, name: str, by: StaffUser) -> list[str]:
    return _update_name(ORGANISATION_TYPES, organisation_type, name, by=by)


def update_area(area: District, *, name: str, by: StaffUser) -> list[str]:
    return _update_name(AREAS, area, name, by=by)


def _update_name(kind: ReferenceList, item: Item, name: str, *, by: StaffUser) -> list[str]:
    changed = _rename(kind, item, name)
    if changed:
        db.session.flush()
        audit.record(kind.changed, by=by, detail=_detail(kind, item, "name"))
    return changed


def move(kind: ReferenceList, item: Item, direction: Literal["up", "down"], *, by: StaffUser) -> Item:
    """One place up or down the list (the order volunteers see)."""
    items = list_items(kind)
    position = next(i for i, row in enumerate(items) if row.id == item.id)
    target = position - 1 if direction == "up" else position + 1
    if not 0 <= target < len(items):
        raise AtTheEnd(f"It is already at the {'top' if direction == 'up' else 'bottom'} of the list.")
    items[position], items[target] = items[target], items[position]
    _renumber(items)
    db.session.flush()
    audit.record(kind.changed, by=by, detail=_detail(kind, item, f"moved {direction}"))
    return item


def retire(kind: ReferenceList, item: Item, *, by: StaffUser, now: datetime | None = None) -> Item:
    """No longer offered for new registrations (or new organisations, for a type); kept for what has it."""
    if item.retired_at is None:
        item.retired_at = now or utcnow()
        db.session.flush()
        audit.record(kind.retired, by=by, now=now, detail=_detail(kind, item))
    return item


def restore(kind: ReferenceList, item: Item, *, by: StaffUser) -> Item:
    if item.retired_at is not None:
        item.retired_at = None
        db.session.flush()
        audit.record(kind.restored, by=by, detail=_detail(kind, item))
    return item


# --- Programme settings ----------------------------------------------------------------------------------------

# Whole-number settings: (lowest, highest). The reminder also has to come before the survey closes.
RANGES = {
    "cutoff_days": (0, 60),
    "late_promotion_hours": (0, 168),
    "evaluation_open_days": (1, 90),
    "evaluation_reminder_days": (1, 89),
    "followup_after_weeks": (1, 52),
    "retention_months": (1, 120),
    # From 3: zeros are shown, so "fewer than 2" would say "1" (evaluation.disclosure refuses a threshold below 3).
    "disclosure_threshold": (3, 20),
}


class SettingsProblem(DomainError):
    """A setting that breaks a rule; `field` names it, so the page can show the message next to it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SettingsChange:
    changed: list[str]  # the settings' names, in the form's order
    privacy_text_changed: bool
    privacy_version_changed: bool


def _programme() -> Programme:
    programme = settings.programme()
    if programme is None:  # a new database: the settings become the programme
        programme = Programme(name="MECC volunteer training")
        db.session.add(programme)
    return programme


def _settings_detail(changed: list[str]) -> str:
    detail = ", ".join(changed)
    if len(detail) <= 200:
        return detail
    shown: list[str] = []
    for name in changed:
        rest = len(changed) - len(shown) - 1
        candidate = ", ".join([*shown, name]) + f" and {rest} more"
        if len(candidate) > 200:
            break
        shown.append(name)
    return ", ".join(shown) + f" and {len(changed) - len(shown)} more"


def update_settings(values: dict, *, by: StaffUser) -> SettingsChange:
    """Save the settings (names as in settings.NAMES; joining_link_hosts as a tuple of hosts; privacy_notice_text
    None for the standard notice). Every page and email reads them from the next request on."""
    unknown = set(values) - set(settings.NAMES)
    if unknown:
        raise ValueError(f"not programme settings: {sorted(unknown)}")
    open_days = values.get("evaluation_open_days")
    reminder_days = values.get("evaluation_reminder_days")
    if open_days is not None and reminder_days is not None and reminder_days >= open_days:
        raise SettingsProblem(
            "evaluation_reminder_days",
            f"The reminder must go before the survey closes: enter a number of days smaller than {open_days}",
        )
    programme = _programme()
    changed = []
    for name in settings.NAMES:
        if name not in values:
            continue
        value = values[name]
        if name == "joining_link_hosts":
            value = "\n".join(value)
        if getattr(programme, name) != value:
            setattr(programme, name, value)
            changed.append(name)
    if changed:
        db.session.flush()
        audit.record(AuditAction.SETTINGS_CHANGED, by=by, detail=_settings_detail(changed))
    settings.forget()
    return SettingsChange(
        changed=changed,
        privacy_text_changed="privacy_notice_text" in changed,
        privacy_version_changed="privacy_notice_version" in changed,
    )
