"""Admins keep the lists volunteers choose from: organisations (each with a type, so the review can report by type),
the organisation types themselves, and areas. Add, rename, reorder, retire (kept for old bookings, hidden from new
registrations) and restore, each recorded in the audit trail."""

import re

import sqlalchemy as sa

from mecc_volunteer.extensions import db
from mecc_volunteer.models import AuditAction, AuditEvent, District, Organisation, OrganisationType
from tests.helpers import assert_fragment


def org_id(app, name: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Organisation.id).where(Organisation.name == name))
        assert found is not None, name
        return found


def type_id(app, name: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(OrganisationType.id).where(OrganisationType.name == name))
        assert found is not None, name
        return found


def area_id(app, name: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(District.id).where(District.name == name))
        assert found is not None, name
        return found


def actions(app) -> list[AuditAction]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def add_type(client, name: str):
    return client.post("/manage/admin/organisation-types/new", data={"name": name})


def registration_page(client, session_id: int) -> str:
    page = client.get(f"/sessions/{session_id}/register")
    assert page.status_code == 200
    return page.text


def offered_organisations(page: str) -> list[str]:
    select = re.search(r'<select[^>]*name="organisation".*?</select>', page, re.S)
    assert select, "no organisation list"
    return [
        name for value, name in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(0)) if value
    ]


def test_an_admin_adds_an_organisation_with_a_type_and_volunteers_can_choose_it(
    app, client, auth, make_training_session
):
    training_session = make_training_session()
    auth.login("admin")
    assert add_type(client, "Library").status_code == 303
    form = client.get("/manage/admin/organisations/new")
    assert "Library" in form.text
    response = client.post(
        "/manage/admin/organisations/new",
        data={"name": "  Banbury Library ", "organisation_type": str(type_id(app, "Library"))},
    )
    assert response.status_code == 303
    listing = client.get(response.headers["Location"]).text
    assert "Banbury Library has been added." in listing
    with app.app_context():
        organisation = db.session.get(Organisation, org_id(app, "Banbury Library"))
        assert organisation.organisation_type.name == "Library"

    visitor = app.test_client()
    offered = offered_organisations(registration_page(visitor, training_session.id))
    assert "Banbury Library" in offered
    assert offered[-1] == "Other"  # a new organisation goes before Other
    assert AuditAction.ORGANISATION_TYPE_ADDED in actions(app)
    assert AuditAction.ORGANISATION_ADDED in actions(app)


def test_organisation_names_are_unique_ignoring_case_and_every_field_is_checked(app, client, auth):
    auth.login("admin")
    add_type(client, "Library")
    library = str(type_id(app, "Library"))
    for data, message in (
        ({"name": "carers oxfordshire", "organisation_type": library}, "There is already an organisation called"),
        ({"name": "", "organisation_type": library}, "Enter the name of the organisation"),
        ({"name": "A" * 121, "organisation_type": library}, "120 characters or fewer"),
        ({"name": "Banbury Library", "organisation_type": ""}, "Select the type of organisation"),
        ({"name": "Banbury Library", "organisation_type": "999999"}, "Select a type from the list"),
    ):
        response = client.post("/manage/admin/organisations/new", data=data)
        assert response.status_code == 200, data
        assert "<title>Error:" in response.text
        assert message in response.text, data
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Organisation.id))) == 4


def test_renaming_and_retyping_an_organisation_shows_on_old_bookings_and_in_the_trail(
    app, client, auth, make_training_session, make_booking
):
    training_session = make_training_session()
    make_booking(training_session.id)  # the first organisation, Oxfordshire Library Service
    auth.login("admin")
    add_type(client, "Library")
    add_type(client, "Council")
    library_service = org_id(app, "Oxfordshire Library Service")
    page = client.get(f"/manage/admin/organisations/{library_service}")
    assert page.status_code == 200
    assert 'value="Oxfordshire Library Service"' in page.text
    response = client.post(
        f"/manage/admin/organisations/{library_service}",
        data={"name": "Oxfordshire Libraries", "organisation_type": str(type_id(app, "Council"))},
    )
    assert response.status_code == 303
    client.post(
        f"/manage/admin/organisations/{library_service}",
        data={"name": "Oxfordshire Libraries", "organisation_type": str(type_id(app, "Library"))},
    )
    with app.app_context():
        organisation = db.session.get(Organisation, library_service)
        assert organisation.name == "Oxfordshire Libraries"
        assert organisation.organisation_type.name == "Library"
        details = list(
            db.session.scalars(
                sa.select(AuditEvent.detail).where(AuditEvent.action == AuditAction.ORGANISATION_CHANGED)
            )
        )
    assert details[0].startswith("name, type:")
    assert details[1].startswith("type:")
    auth.logout()
    auth.login("coordinator")
    roster = client.get(f"/manage/sessions/{training_session.id}/roster").text
    assert "Oxfordshire Libraries" in roster


def test_a_retired_organisation_is_not_offered_to_new_registrations_but_stays_on_old_bookings(
    app, client, auth, make_training_session, make_booking, registration_form
):
    training_session = make_training_session()
    make_booking(training_session.id)  # with the first organisation
    auth.login("admin")
    library_service = org_id(app, "Oxfordshire Library Service")
    listing = client.get("/manage/admin/organisations/")
    assert "Oxfordshire Library Service" in listing.text
    response = client.post(f"/manage/admin/organisations/{library_service}/retire")
    assert response.status_code == 303
    assert "Retired" in client.get("/manage/admin/organisations/").text

    visitor = app.test_client()
    assert "Oxfordshire Library Service" not in offered_organisations(registration_page(visitor, training_session.id))
    refused = visitor.post(f"/sessions/{training_session.id}/register", data=registration_form())
    assert refused.status_code == 200
    assert "Select your organisation from the list" in refused.text

    # The coordinator's add-a-volunteer form does not offer it either, and the old booking still shows it.
    auth.logout()
    auth.login("coordinator")
    add_form = client.get(f"/manage/sessions/{training_session.id}/roster/add")
    assert add_form.status_code == 200
    assert "Oxfordshire Library Service" not in add_form.text
    assert "Oxfordshire Library Service" in client.get(f"/manage/sessions/{training_session.id}/roster").text

    auth.logout()
    auth.login("admin")
    assert client.post(f"/manage/admin/organisations/{library_service}/restore").status_code == 303
    assert "Oxfordshire Library Service" in offered_organisations(registration_page(visitor, training_session.id))
    assert AuditAction.ORGANISATION_RETIRED in actions(app)
    assert AuditAction.ORGANISATION_RESTORED in actions(app)


def test_moving_an_organisation_changes_the_order_volunteers_see(
    app, client, auth, make_training_session, htmx_headers
):
    training_session = make_training_session()
    auth.login("admin")
    visitor = app.test_client()
    before = offered_organisations(registration_page(visitor, training_session.id))
    assert before[:3] == ["Oxfordshire Library Service", "Carers Oxfordshire", "Restore"]
    restore = org_id(app, "Restore")
    client.get("/manage/admin/organisations/")
    response = client.post(f"/manage/admin/organisations/{restore}/move", data={"direction": "up"})
    assert response.status_code == 303
    assert offered_organisations(registration_page(visitor, training_session.id))[:3] == [
        "Oxfordshire Library Service",
        "Restore",
        "Carers Oxfordshire",
    ]
    # With htmx: the list's table comes back, with the message for the flash region.
    fragment = client.post(
        f"/manage/admin/organisations/{restore}/move", data={"direction": "up"}, headers=htmx_headers
    )
    assert_fragment(fragment)
    assert 'id="items"' in fragment.text
    assert "hx-swap-oob" in fragment.text
    assert "Restore moved up." in fragment.text
    assert offered_organisations(registration_page(visitor, training_session.id))[0] == "Restore"
    # Already at the top: said so, and nothing changes.
    client.get("/manage/admin/organisations/")
    top = client.post(f"/manage/admin/organisations/{restore}/move", data={"direction": "up"}, follow_redirects=True)
    assert "already at the top" in top.text
    sideways = client.post(
        f"/manage/admin/organisations/{restore}/move", data={"direction": "sideways"}, follow_redirects=True
    )
    assert "Choose to move it up or down" in sideways.text


def test_organisation_types_are_added_renamed_reordered_retired_and_restored(app, client, auth):
    auth.login("admin")
    for name in ("Library", "Pharmacy", "Faith group"):
        assert add_type(client, name).status_code == 303
    duplicate = add_type(client, "LIBRARY")
    assert duplicate.status_code == 200
    assert "There is already an organisation type called Library" in duplicate.text
    pharmacy = type_id(app, "Pharmacy")
    assert client.post(f"/manage/admin/organisation-types/{pharmacy}", data={"name": "Pharmacies"}).status_code == 303
    client.get("/manage/admin/organisation-types/")
    client.post(f"/manage/admin/organisation-types/{pharmacy}/move", data={"direction": "up"})
    with app.app_context():
        order = list(db.session.scalars(sa.select(OrganisationType.name).order_by(OrganisationType.sort_order)))
    assert order == ["Pharmacies", "Library", "Faith group"]

    # An organisation keeps a retired type; new and changed organisations cannot choose it.
    client.post("/manage/admin/organisations/new", data={"name": "Boots Banbury", "organisation_type": str(pharmacy)})
    assert client.post(f"/manage/admin/organisation-types/{pharmacy}/retire").status_code == 303
    assert ">Pharmacies</option>" not in client.get("/manage/admin/organisations/new").text
    boots = org_id(app, "Boots Banbury")
    edit = client.get(f"/manage/admin/organisations/{boots}")
    assert ">Pharmacies</option>" in edit.text  # its own type, still offered
    listing = client.get("/manage/admin/organisations/").text
    assert "Pharmacies (retired)" in listing
    refused = client.post(
        "/manage/admin/organisations/new", data={"name": "Lloyds", "organisation_type": str(pharmacy)}
    )
    assert refused.status_code == 200
    assert "Select a type from the list" in refused.text
    assert client.post(f"/manage/admin/organisation-types/{pharmacy}/restore").status_code == 303
    assert ">Pharmacies</option>" in client.get("/manage/admin/organisations/new").text
    for action in (
        AuditAction.ORGANISATION_TYPE_ADDED,
        AuditAction.ORGANISATION_TYPE_CHANGED,
        AuditAction.ORGANISATION_TYPE_RETIRED,
        AuditAction.ORGANISATION_TYPE_RESTORED,
    ):
        assert action in actions(app)


def test_areas_are_added_renamed_reordered_retired_and_restored_on_the_registration_form(
    app, client, auth, make_training_session
):
    training_session = make_training_session()
    auth.login("admin")
    visitor = app.test_client()
    assert client.get("/manage/admin/areas/").status_code == 200
    assert client.post("/manage/admin/areas/new", data={"name": "Outside Oxfordshire"}).status_code == 303
    assert "Outside Oxfordshire" in registration_page(visitor, training_session.id)
    outside = area_id(app, "Outside Oxfordshire")
    assert client.post(f"/manage/admin/areas/{outside}", data={"name": "Elsewhere"}).status_code == 303
    client.get("/manage/admin/areas/")
    client.post(f"/manage/admin/areas/{outside}/move", data={"direction": "up"})
    page = registration_page(visitor, training_session.id)
    assert page.index("Elsewhere") < page.index("West Oxfordshire")
    cherwell = area_id(app, "Cherwell")
    assert client.post(f"/manage/admin/areas/{cherwell}/retire").status_code == 303
    assert "Cherwell" not in registration_page(visitor, training_session.id)
    assert client.post(f"/manage/admin/areas/{cherwell}/restore").status_code == 303
    assert "Cherwell" in registration_page(visitor, training_session.id)
    blank = client.post(f"/manage/admin/areas/{cherwell}", data={"name": "   "})
    assert blank.status_code == 200
    assert "Enter the name of the area" in blank.text
    taken = client.post(f"/manage/admin/areas/{cherwell}", data={"name": "oxford city"})
    assert "There is already an area called Oxford City" in taken.text
    for action in (
        AuditAction.AREA_ADDED,
        AuditAction.AREA_CHANGED,
        AuditAction.AREA_RETIRED,
        AuditAction.AREA_RESTORED,
    ):
        assert action in actions(app)


def test_the_admin_index_links_to_every_part(app, client, auth):
    auth.login("admin")
    assert 'href="/manage/admin/"' in client.get("/manage/").text
    page = client.get("/manage/admin/").text
    for path in (
        "/manage/admin/staff/",
        "/manage/admin/organisations/",
        "/manage/admin/organisation-types/",
        "/manage/admin/areas/",
        "/manage/admin/settings",
        "/manage/admin/retention",
    ):
        assert f'href="{path}' in page, path
