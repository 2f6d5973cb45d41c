"""No input ever produces a 500: arbitrary text in every field of every volunteer form."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Any Unicode a browser can send (lone surrogates cannot be encoded as UTF-8), including NUL and controls.
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
REGISTRATION_FIELDS = [
    "name",
    "email",
    "phone",
    "organisation",
    "organisation_other",
    "role",
    "district",
    "baseline_confidence",
    "baseline_knowledge",
    "age_band",
    "gender",
    "ethnic_group",
    "disability",
    "privacy_acknowledged",
    "followup_consent",
]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(form=st.fixed_dictionaries({}, optional=dict.fromkeys(REGISTRATION_FIELDS, any_text)))
def test_any_registration_form_gets_a_page_or_a_redirect(client, make_training_session, form):
    training_session = make_training_session()
    response = client.post(f"/sessions/{training_session.id}/register", data=form)
    assert response.status_code in (200, 303), response.status_code
    if response.status_code == 303:
        check = client.post(f"/sessions/{training_session.id}/register/check")
        assert check.status_code in (200, 303)


@FUZZ
@given(email=any_text)
def test_any_lost_link_request_gets_the_same_kind_of_page(client, email):
    assert client.post("/lost-link", data={"email": email}).status_code == 200


@FUZZ
@given(
    token=st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="/?#%"), min_size=1, max_size=60
    )
)
def test_any_personal_link_gets_a_page_or_a_friendly_404(client, token):
    # Never a 500: an unknown link is a friendly 404 (control characters in a path may get a 405).
    assert client.get(f"/my-booking/{token}").status_code in (404, 405)
    assert client.post(f"/my-booking/{token}/cancel").status_code in (404, 405)
