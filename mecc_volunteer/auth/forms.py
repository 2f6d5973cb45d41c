from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import StopValidation

from mecc_volunteer.auth.second_factor import is_recovery_code, is_totp_code
from mecc_volunteer.validation import CleanText, EmailAddress, Length, Required, normalise_text

# One rule for staff addresses: the sign-in form checks these, and so does every command that makes an account.
EMAIL_RULES = (CleanText("Email address"), Length("Email address", 254), EmailAddress())


class SignInForm(FlaskForm):
    email = StringField(
        filters=[normalise_text],
        validators=[Required("Enter your email address"), *EMAIL_RULES],
    )
    password = PasswordField(validators=[Required("Enter your password"), Length("Password", 200)])

    @property
    def credentials(self) -> tuple[str, str]:
        """The email address and password, once validate() has passed (both are required)."""
        email, password = self.email.data, self.password.data
        if not email or not password:
            raise RuntimeError("SignInForm.credentials needs a successful validate()")
        return email, password


class TotpCodeFormat:
    """Six digits from an authenticator app; spaces between them are fine."""

    def __call__(self, form, field):
        if field.data and not is_totp_code(field.data):
            raise StopValidation("Enter the 6-digit code from your authenticator app, using numbers only")


class CodeOrRecoveryCodeFormat:
    """A code from the app, or a recovery code (abcd-efgh-jkmn: the hyphens and spaces are optional)."""

    def __call__(self, form, field):
        if field.data and not (is_totp_code(field.data) or is_recovery_code(field.data)):
            raise StopValidation(
                "Enter the 6-digit code from your authenticator app, or a recovery code like abcd-efgh-jkmn"
            )


CODE_RULES = (CleanText("The code"), Length("The code", 40))


class EnrolSecondFactorForm(FlaskForm):
    code = StringField(
        filters=[normalise_text],
        validators=[Required("Enter the 6-digit code from your authenticator app"), *CODE_RULES, TotpCodeFormat()],
    )


class SecondFactorForm(FlaskForm):
    code = StringField(
        filters=[normalise_text],
        validators=[
            Required("Enter the 6-digit code from your authenticator app, or a recovery code"),
            *CODE_RULES,
            CodeOrRecoveryCodeFormat(),
        ],
    )
