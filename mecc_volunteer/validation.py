"""Format rules shared by every form: clean text, email addresses and UK phone numbers."""

import datetime as dt
import re
import unicodedata

from email_validator import EmailNotValidError, validate_email
from wtforms.validators import StopValidation, ValidationError

# Bidirectional embedding/override/isolate controls: they can make text display differently from
# what it says (CVE-2021-42574 "Trojan Source"); right-to-left scripts themselves are welcome.
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def normalise_text(value):
    """NFC and trimmed; applied as a WTForms filter before validation."""
    if not isinstance(value, str):
        return value
    return unicodedata.normalize("NFC", value).strip()


def normalise_email(email: str) -> str:
    """How an address is compared and looked up (staff sign-in, a volunteer's bookings): trimmed, lower case."""
    return email.strip().lower()


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first character we refuse, or None."""
    for char in value:
        if char == "\x00":
            return "a null character"
        if char in BIDI_CONTROLS:
            return "a hidden text-direction character"
        if multiline and char in "\n\r\t":
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            return "a control character"
        if category in ("Cs", "Co", "Cn") and not multiline:
            return "a character we cannot store"
    return None


class CleanText:
    """Refuses NUL, control and text-direction characters with a message that says which."""

    def __init__(self, label: str, *, multiline: bool = False):
        self.label = label
        self.multiline = multiline

    def __call__(self, form, field):
        if not field.data:
            return
        problem = forbidden_character(field.data, multiline=self.multiline)
        if problem:
            raise StopValidation(f"{self.label} must not contain {problem}")


class Length:
    """Length in characters, with a GOV.UK-style message."""

    def __init__(self, label: str, maximum: int):
        self.label = label
        self.maximum = maximum

    def __call__(self, form, field):
        if field.data and len(field.data) > self.maximum:
            raise StopValidation(f"{self.label} must be {self.maximum} characters or fewer")


class EmailAddress:
    """Syntax only (no DNS look-up): a registration must not depend on the network.

    International domains are welcome (mail goes to their ASCII "xn--" form). Letters outside a to z
    before the @ are refused: sending to them needs SMTPUTF8, which most mail servers do not offer, so the
    volunteer would never get their confirmation and personal link."""

    def __call__(self, form, field):
        if not field.data:
            return
        try:
            validated = validate_email(field.data, check_deliverability=False)
        except EmailNotValidError:
            raise StopValidation("Enter an email address in the correct format, like name@example.com") from None
        if validated.ascii_email is None:
            raise StopValidation(
                "Enter an email address with only the letters a to z, numbers and symbols before the @, "
                "like name@example.com"
            )


_PHONE_JUNK = re.compile(r"[\s\-().]")
UK_PHONE = re.compile(r"^0[1-9][0-9]{8,9}$")


def normalise_uk_phone(value: str) -> str | None:
    """'+44 (0)7700 900 123' -> '07700 900123'; None if it is not a UK number."""
    digits = _PHONE_JUNK.sub("", value)
    if digits.startswith("+44"):
        digits = digits[3:]
        if digits.startswith("0"):
            digits = digits[1:]
        digits = "0" + digits
    elif digits.startswith("0044"):
        digits = "0" + digits[4:].lstrip("0")
    if not UK_PHONE.match(digits):
        return None
    if digits.startswith("02"):  # London, Cardiff, ...: 020 7946 0000
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"{digits[:5]} {digits[5:]}"  # 07700 900123, 01865 123456


class UKPhone:
    def __call__(self, form, field):
        if not field.data:
            field.data = None
            return
        normalised = normalise_uk_phone(field.data)
        if normalised is None:
            raise StopValidation("Enter a UK phone number, like 07700 900 982 or 01632 960 001")
        field.data = normalised


class Required:
    """DataRequired with our own message, and no HTML 'required' attribute (we show our own errors)."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        data = field.data
        if data is None or (isinstance(data, str) and not data.strip()) or data is False:
            field.errors[:] = []
            raise StopValidation(self.message)


class OneOf:
    """The submitted value must be one of the field's choices (radios and selects)."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if field.data in (None, ""):
            return
        if str(field.data) not in {choice.value for choice in field.choices}:
            raise ValidationError(self.message)


__all__ = [
    "CleanText",
    "EmailAddress",
    "Length",
    "OneOf",
    "Required",
    "UKPhone",
    "ValidationError",
    "normalise_text",
    "normalise_uk_phone",
]


def parse_date_parts(
    day: str | None, month: str | None, year: str | None, *, what: str
) -> tuple[dt.date | None, str | None]:
    """GOV.UK date input: (date, None), or (None, a message naming what is missing or wrong)."""
    parts = {"day": (day or "").strip(), "month": (month or "").strip(), "year": (year or "").strip()}
    missing = [name for name, value in parts.items() if not value]
    if len(missing) == 3:
        return None, f"Enter {what}"
    if missing:
        return None, f"{what[0].upper()}{what[1:]} must include a {' and '.join(missing)}"
    # ASCII digits only, at most 2 for the day and month and exactly 4 for the year: anything longer is not a
    # real date, and a number too large for the calendar would raise OverflowError rather than ValueError.
    widths = {"day": (1, 2), "month": (1, 2), "year": (4, 4)}
    if not all(
        value.isascii() and value.isdigit() and widths[name][0] <= len(value) <= widths[name][1]
        for name, value in parts.items()
    ):
        return None, f"{what[0].upper()}{what[1:]} must be a real date"
    try:
        return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"])), None
    except (ValueError, OverflowError):
        return None, f"{what[0].upper()}{what[1:]} must be a real date"
