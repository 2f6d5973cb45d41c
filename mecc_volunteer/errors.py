"""Domain errors: a broken rule, with a message the volunteer or coordinator can act on. Services raise them;
views show the message next to the field or in the page's message (the error pages are error_pages.py)."""


class DomainError(Exception):
    """A broken rule, with a message a volunteer or coordinator can act on."""

    message = "Something went wrong."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


class SessionNotFound(DomainError):
    message = "We could not find that training session."


class RegistrationClosed(DomainError):
    message = "Registration for this session has closed."


class SessionCancelled(DomainError):
    message = "This session has been cancelled."


class SessionFinished(DomainError):
    message = "This session has already taken place."


class SessionFull(DomainError):
    message = "This session has just filled up. Choose another session."


class AlreadyBooked(DomainError):
    message = "You are already booked on this session."


class BookingNotActive(DomainError):
    message = "This booking is no longer active."


class NotAllowed(DomainError):
    message = "You cannot do that with this booking."
