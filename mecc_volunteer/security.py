"""Strict security headers on every response, and SECRET_KEY rotation for everything signed with it."""

from flask import Flask, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)

# Every response has these, unless a view set its own.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # Personal links carry a secret in the path: never send it to another site.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


def init_app(app: Flask) -> None:
    accept_secret_key_fallbacks(app)

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        # One pass over the headers the response has (a view may have set its own), not one search per header:
        # this runs on every response, kept pages included.
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118 (iterating Headers gives pairs)
        headers.extend((name, value) for name, value in SECURITY_HEADERS if name.lower() not in present)
        if request.is_secure and "strict-transport-security" not in present:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint != "static":
            # Only static files may be cached. Pages, fragments and downloads can hold personal data (a
            # roster CSV holds names and organisations): keep them out of every cache, shared or not, and
            # out of the back-forward cache, whatever send_file or a view set.
            headers["Cache-Control"] = "no-store"
            if "expires" in present:
                del headers["Expires"]
        return response


def accept_secret_key_fallbacks(app: Flask) -> None:
    """Rotate SECRET_KEY without signing anyone out or failing an open form: put the old key in
    SECRET_KEY_FALLBACKS (a list; FLASK_SECRET_KEY_FALLBACKS='["old"]' in the environment), sign with the new one,
    and accept both until the old one is removed.

    What signs with the key: Flask's session cookie, which reads the fallbacks itself (Flask 3.1), and Flask-WTF's
    CSRF tokens, which do not (1.3): given a list of keys, itsdangerous signs with the last and accepts any, so the
    CSRF key becomes the list. Nothing else is signed with it: personal and staff links are random secrets stored
    hashed, the sign-in never sets Flask-Login's remember cookie, and respondent codes have a key of their own
    (mecc_volunteer.pseudonyms). An operator's own WTF_CSRF_SECRET_KEY is left alone."""
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str | bytes):
        # One key written without the list's brackets: Flask would take each of its characters for a key.
        fallbacks = [fallbacks]
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    if fallbacks and app.config.get("WTF_CSRF_SECRET_KEY") is None:
        app.config["WTF_CSRF_SECRET_KEY"] = [*fallbacks, app.config["SECRET_KEY"]]
