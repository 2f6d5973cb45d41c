from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

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
