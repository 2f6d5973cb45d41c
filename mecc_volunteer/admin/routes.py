"""The admin area's pages: staff accounts, organisations, organisation types, areas and programme settings.

Every view is for admins only (`@roles_required()` with no roles). Views parse, load (404), call one service and
commit through transactions.attempt. An action that ends something (deactivate, sign out everywhere, reset an
authenticator app) is a POST; without JavaScript its link opens a confirmation page with the POST form, and with
htmx the link asks in place (hx-confirm) and posts to the same address."""

from collections.abc import Callable
from typing import Literal

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from mecc_volunteer import settings
from mecc_volunteer.admin import bp, services
from mecc_volunteer.admin.forms import (
    ROLE_HINTS,
    InviteStaffForm,
    MoveForm,
    NameForm,
    OrganisationForm,
    RoleForm,
    SettingsForm,
)
from mecc_volunteer.admin.services import AREAS, ORGANISATION_TYPES, ORGANISATIONS, ReferenceList
from mecc_volunteer.auth.access import roles_required
from mecc_volunteer.auth.services import InvalidStaffEmail, StaffExists
from mecc_volunteer.extensions import db
from mecc_volunteer.forms import ConfirmForm, add_error
from mecc_volunteer.htmx import hx_location, is_htmx, render
from mecc_volunteer.models import (
    District,
    Organisation,
    OrganisationType,
    StaffLinkPurpose,
    StaffRole,
    StaffUser,
    utcnow,
)
from mecc_volunteer.transactions import attempt


def _done(url: str):
    """After a change: to the page that shows it (htmx moves there itself, rather than swap a redirect's page)."""
    if is_htmx():
        return hx_location(url)
    return redirect(url, 303)


@bp.get("/")
@roles_required()
def index():
    return render_template("admin/index.html")


# --- Staff accounts ----------------------------------------------------------------------------------------------


@bp.get("/staff/")
@roles_required()
def staff():
    return render_template("admin/staff.html", staff=services.list_staff())


@bp.route("/staff/invite", methods=["GET", "POST"])
@roles_required()
def invite_staff():
    form = InviteStaffForm()
    if form.validate_on_submit():
        name, email, role = form.name.data or "", form.email.data or "", StaffRole(form.role.data)
        done = attempt(
            lambda: services.invite_staff(email, name=name, role=role, by=current_user),
            retry_on_conflict="inviting a staff member",
        )
        if isinstance(done.error, InvalidStaffEmail | StaffExists):
            add_error(form.email, done.error.message)
        elif done.error:
            add_error(form.name, done.error.message)
        else:
            invited = done.result
            flash(f"{invited.name} has been invited. We have emailed them a link to set up their account.", "success")
            return _done(url_for("admin.staff_member", staff_id=invited.id))
    return render_template("admin/invite.html", form=form, role_hints=ROLE_HINTS)


@bp.get("/staff/<int:staff_id>")
@roles_required()
def staff_member(staff_id: int):
    member = db.get_or_404(StaffUser, staff_id)
    return render_template("admin/staff_member.html", member=member, is_me=member.id == current_user.id)


@bp.route("/staff/<int:staff_id>/role", methods=["GET", "POST"])
@roles_required()
def change_role(staff_id: int):
    member = db.get_or_404(StaffUser, staff_id)
    form = RoleForm()
    if request.method == "GET":
        form.role.data = member.role.value
    elif form.validate_on_submit():
        role = StaffRole(form.role.data)
        before = member.role
        done = attempt(lambda: services.change_role(member, role, by=current_user))
        if done.error:
            add_error(form.role, done.error.message)
        else:
            if role is before:
                flash(f"{member.name} is still {_article(role)} {role.label.lower()}: nothing changed.", "success")
            else:
                flash(f"{member.name} is now {_article(role)} {role.label.lower()}.", "success")
            return _done(url_for("admin.staff_member", staff_id=member.id))
    return render_template(
        "admin/role.html", form=form, member=member, is_me=member.id == current_user.id, role_hints=ROLE_HINTS
    )


def _article(role: StaffRole) -> str:
    return "an" if role.value[0] in "aeiou" else "a"


# Each one-button action on an account: (service, question on the confirmation page, what it does, button, done).
STAFF_ACTIONS: dict[str, tuple[Callable, str, str, str, str]] = {
    "deactivate": (
        services.deactivate,
        "Deactivate {name}'s account?",
        "They are signed out everywhere now and can no longer sign in. You can reactivate the account later.",
        "Deactivate account",
        "{name}'s account is deactivated, and they have been signed out everywhere.",
    ),
    "reactivate": (
        services.reactivate,
        "Reactivate {name}'s account?",
        "They can sign in again with their password and authenticator app.",
        "Reactivate account",
        "{name}'s account is active again.",
    ),
    "reset_second_factor": (
        services.reset_second_factor,
        "Reset {name}'s authenticator app?",
        (
            "Their authenticator app and recovery codes stop working, and they are signed out everywhere. They set"
            " up the app again the next time they sign in. Only do this if you are sure who is asking."
        ),
        "Reset authenticator app",
        "{name}'s authenticator app is reset. They will set it up again when they next sign in.",
    ),
    "sign_out_everywhere": (
        services.sign_out_everywhere,
        "Sign {name} out everywhere?",
        "Every browser they are signed in on is signed out, for example on a lost laptop. They can sign in again.",
        "Sign out everywhere",
        "{name} has been signed out everywhere.",
    ),
}


def _staff_action(action: str, staff_id: int):
    member = db.get_or_404(StaffUser, staff_id)
    service, question, explanation, button, message = STAFF_ACTIONS[action]
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: service(member, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(message.format(name=member.name), "success")
        if member.id == current_user.id and not done.error and action == "sign_out_everywhere":
            return _done(url_for("auth.sign_in"))  # this browser was signed out too
        return _done(url_for("admin.staff_member", staff_id=member.id))
    return render_template(
        "admin/staff_confirm.html",
        form=form,
        member=member,
        action=f"admin.{action}",
        question=question.format(name=member.name),
        explanation=explanation,
        button=button,
    )


@bp.route("/staff/<int:staff_id>/deactivate", methods=["GET", "POST"])
@roles_required()
def deactivate(staff_id: int):
    return _staff_action("deactivate", staff_id)


@bp.route("/staff/<int:staff_id>/reactivate", methods=["GET", "POST"])
@roles_required()
def reactivate(staff_id: int):
    return _staff_action("reactivate", staff_id)


@bp.route("/staff/<int:staff_id>/reset-authenticator", methods=["GET", "POST"])
@roles_required()
def reset_second_factor(staff_id: int):
    return _staff_action("reset_second_factor", staff_id)


@bp.route("/staff/<int:staff_id>/sign-out-everywhere", methods=["GET", "POST"])
@roles_required()
def sign_out_everywhere(staff_id: int):
    return _staff_action("sign_out_everywhere", staff_id)


@bp.route("/staff/<int:staff_id>/password-link", methods=["GET", "POST"])
@roles_required()
def send_password_link(staff_id: int):
    member = db.get_or_404(StaffUser, staff_id)
    form = ConfirmForm()
    invitation = member.password_hash is None
    if request.method == "POST" and form.validate_on_submit():
        done = attempt(lambda: services.send_password_link(member, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        elif done.result is StaffLinkPurpose.INVITATION:
            flash(
                f"We have emailed {member.name} a new invitation. Earlier invitation links no longer work.", "success"
            )
        else:
            flash(f"We have emailed {member.name} a link to choose a new password. It works for 24 hours.", "success")
        return _done(url_for("admin.staff_member", staff_id=member.id))
    if invitation:
        question = f"Send {member.name} a new invitation?"
        explanation = "They get a new link to set up their account, which works for 7 days. Earlier links stop working."
    else:
        question = f"Send {member.name} a password reset link?"
        explanation = (
            "They get a link to choose a new password, which works once, for 24 hours. Their current password keeps"
            " working until they use it."
        )
    return render_template(
        "admin/staff_confirm.html",
        form=form,
        member=member,
        action="admin.send_password_link",
        question=question,
        explanation=explanation,
        button="Send invitation" if invitation else "Send password reset link",
    )


# --- Organisations, organisation types and areas -----------------------------------------------------------------

# Each list's pages: (endpoint suffix, the URL argument naming a row, title).
PAGES = {
    ORGANISATIONS.noun: ("organisation", "organisation_id", "Organisations"),
    ORGANISATION_TYPES.noun: ("organisation_type", "type_id", "Organisation types"),
    AREAS.noun: ("area", "area_id", "Areas"),
}
LIST_ENDPOINTS = {
    ORGANISATIONS.noun: "admin.organisations",
    ORGANISATION_TYPES.noun: "admin.organisation_types",
    AREAS.noun: "admin.areas",
}


def _list_page(kind: ReferenceList):
    """The list, or (an htmx row action) only its table, with the message swapped into the flash region."""
    prefix, id_arg, title = PAGES[kind.noun]
    return render(
        "admin/list.html",
        block="items",
        kind=kind,
        prefix=prefix,
        id_arg=id_arg,
        title=title,
        items=services.list_items(kind),
        list_endpoint=LIST_ENDPOINTS[kind.noun],
        is_organisations=kind is ORGANISATIONS,
    )


def _after_row_action(kind: ReferenceList):
    if is_htmx():
        return _list_page(kind)
    return redirect(url_for(LIST_ENDPOINTS[kind.noun]), 303)


def _form_for(kind: ReferenceList, item=None):
    if kind is ORGANISATIONS:
        current = item.organisation_type if item is not None else None
        return OrganisationForm(kind=kind, types=services.organisation_type_choices(current))
    return NameForm(kind=kind)


def _add(kind: ReferenceList, add: Callable):
    form = _form_for(kind)
    if form.validate_on_submit():
        name = form.name.data or ""
        extra = {"organisation_type": form.chosen_type} if isinstance(form, OrganisationForm) else {}
        done = attempt(lambda: add(name, by=current_user, **extra), retry_on_conflict=f"adding an {kind.noun}")
        if done.error:
            add_error(form.name, done.error.message)
        else:
            flash(f"{done.result.name} has been added.", "success")
            return _done(url_for(LIST_ENDPOINTS[kind.noun]))
    return _item_form_page(kind, form, None)


def _edit(kind: ReferenceList, item, update: Callable):
    form = _form_for(kind, item)
    if request.method == "GET":
        form.name.data = item.name
        if isinstance(form, OrganisationForm) and item.organisation_type_id is not None:
            form.organisation_type.data = str(item.organisation_type_id)
    elif form.validate_on_submit():
        name = form.name.data or ""
        extra = {"organisation_type": form.chosen_type} if isinstance(form, OrganisationForm) else {}
        done = attempt(lambda: update(item, name=name, by=current_user, **extra))
        if done.error:
            add_error(form.name, done.error.message)
        else:
            flash(f"{item.name} has been saved." if done.result else "Nothing changed.", "success")
            return _done(url_for(LIST_ENDPOINTS[kind.noun]))
    return _item_form_page(kind, form, item)


def _item_form_page(kind: ReferenceList, form, item):
    prefix, _, title = PAGES[kind.noun]
    return render_template(
        "admin/item_form.html",
        form=form,
        item=item,
        kind=kind,
        prefix=prefix,
        list_title=title,
        list_endpoint=LIST_ENDPOINTS[kind.noun],
    )


def _move(kind: ReferenceList, item):
    form = MoveForm()
    if form.validate_on_submit():
        direction: Literal["up", "down"] = "up" if form.direction.data == "up" else "down"
        done = attempt(lambda: services.move(kind, item, direction, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"{item.name} moved {direction}.", "success")
    else:
        flash(next(iter(form.direction.errors), "Choose to move it up or down"), "error")
    return _after_row_action(kind)


def _retire(kind: ReferenceList, item):
    form = ConfirmForm()
    if form.validate_on_submit():
        done = attempt(lambda: services.retire(kind, item, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"{item.name} is retired: it is no longer offered, and stays on what already has it.", "success")
    return _after_row_action(kind)


def _restore(kind: ReferenceList, item):
    form = ConfirmForm()
    if form.validate_on_submit():
        done = attempt(lambda: services.restore(kind, item, by=current_user))
        if done.error:
            flash(done.error.message, "error")
        else:
            flash(f"{item.name} is offered again.", "success")
    return _after_row_action(kind)


@bp.get("/organisations/")
@roles_required()
def organisations():
    return _list_page(ORGANISATIONS)


@bp.route("/organisations/new", methods=["GET", "POST"])
@roles_required()
def add_organisation():
    return _add(ORGANISATIONS, services.add_organisation)


@bp.route("/organisations/<int:organisation_id>", methods=["GET", "POST"])
@roles_required()
def edit_organisation(organisation_id: int):
    return _edit(ORGANISATIONS, db.get_or_404(Organisation, organisation_id), services.update_organisation)


@bp.post("/organisations/<int:organisation_id>/move")
@roles_required()
def move_organisation(organisation_id: int):
    return _move(ORGANISATIONS, db.get_or_404(Organisation, organisation_id))


@bp.post("/organisations/<int:organisation_id>/retire")
@roles_required()
def retire_organisation(organisation_id: int):
    return _retire(ORGANISATIONS, db.get_or_404(Organisation, organisation_id))


@bp.post("/organisations/<int:organisation_id>/restore")
@roles_required()
def restore_organisation(organisation_id: int):
    return _restore(ORGANISATIONS, db.get_or_404(Organisation, organisation_id))


@bp.get("/organisation-types/")
@roles_required()
def organisation_types():
    return _list_page(ORGANISATION_TYPES)


@bp.route("/organisation-types/new", methods=["GET", "POST"])
@roles_required()
def add_organisation_type():
    return _add(ORGANISATION_TYPES, services.add_organisation_type)


@bp.route("/organisation-types/<int:type_id>", methods=["GET", "POST"])
@roles_required()
def edit_organisation_type(type_id: int):
    return _edit(ORGANISATION_TYPES, db.get_or_404(OrganisationType, type_id), services.update_organisation_type)


@bp.post("/organisation-types/<int:type_id>/move")
@roles_required()
def move_organisation_type(type_id: int):
    return _move(ORGANISATION_TYPES, db.get_or_404(OrganisationType, type_id))


@bp.post("/organisation-types/<int:type_id>/retire")
@roles_required()
def retire_organisation_type(type_id: int):
    return _retire(ORGANISATION_TYPES, db.get_or_404(OrganisationType, type_id))


@bp.post("/organisation-types/<int:type_id>/restore")
@roles_required()
def restore_organisation_type(type_id: int):
    return _restore(ORGANISATION_TYPES, db.get_or_404(OrganisationType, type_id))


@bp.get("/areas/")
@roles_required()
def areas():
    return _list_page(AREAS)


@bp.route("/areas/new", methods=["GET", "POST"])
@roles_required()
def add_area():
    return _add(AREAS, services.add_area)


@bp.route("/areas/<int:area_id>", methods=["GET", "POST"])
@roles_required()
def edit_area(area_id: int):
    return _edit(AREAS, db.get_or_404(District, area_id), services.update_area)


@bp.post("/areas/<int:area_id>/move")
@roles_required()
def move_area(area_id: int):
    return _move(AREAS, db.get_or_404(District, area_id))


@bp.post("/areas/<int:area_id>/retire")
@roles_required()
def retire_area(area_id: int):
    return _retire(AREAS, db.get_or_404(District, area_id))


@bp.post("/areas/<int:area_id>/restore")
@roles_required()
def restore_area(area_id: int):
    return _restore(AREAS, db.get_or_404(District, area_id))


# --- Programme settings -------------------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"], endpoint="settings")
@roles_required()
def settings_page():
    form = SettingsForm()
    if request.method == "GET":
        form.fill_from(settings.current())
    elif form.validate_on_submit():
        values = form.values
        done = attempt(lambda: services.update_settings(values, by=current_user))
        if isinstance(done.error, services.SettingsProblem):
            add_error(getattr(form, done.error.field), done.error.message)
        elif done.error:
            add_error(form.service_name, done.error.message)
        else:
            change = done.result
            if not change.changed:
                flash("Nothing changed.", "success")
            else:
                flash(f"Settings saved ({len(change.changed)} changed).", "success")
            if change.privacy_version_changed:
                flash("Volunteers will be shown the updated privacy notice on their next visit.", "success")
            elif change.privacy_text_changed:
                flash(
                    "You changed the privacy notice's text but not its version, so volunteers who have already read it"
                    " will not be shown it again. If the change matters to them, give the notice a new version.",
                    "success",
                )
            return _done(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form, suggested_version=f"{utcnow():%Y-%m}")
