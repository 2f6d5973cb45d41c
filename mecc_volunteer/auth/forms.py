from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from mecc_volunteer.validation import CleanText, EmailAddress, Length, Required, normalise_text


class SignInForm(FlaskForm):
    email = StringField(
        filters=[normalise_text],
        validators=[Required("Enter your email address"), CleanText("Email address"), Length("Email address", 254), EmailAddress()],
    )
    password = PasswordField(validators=[Required("Enter your password"), Length("Password", 200)])
