"""The outbox: queue_email() in the caller's transaction, deliver_pending() after the commit.

After a request that queued mail has committed and its response is closed, the ids go to this process's
courier, a background thread that sends them within moments: no request's worker ever waits on the mail
server. `flask jobs run` (cron) and `flask mail deliver` send whatever is left.

Generic: it knows nothing about volunteers or sessions. Logs carry email ids, never addresses or bodies.
"""

import atexit
import contextlib
import logging
import os
import re
import smtplib
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app, g, has_app_context
from flask_mail import Connection, Message

from mecc_volunteer.extensions import db
from mecc_volunteer.models import EmailStatus, OutgoingEmail, utcnow
from mecc_volunteer.transactions import rows_changed

log = logging.getLogger(__name__)

# Back-off after the 1st, 2nd, ... temporary failure (as pretix and Indico do: minutes, then hours).
RETRY_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
]
# A row left in "sending" this long belongs to a worker that died: send it again.
STUCK_AFTER = timedelta(minutes=10)


def queue_email(
    *,
    template: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: list[dict] | None = None,
    dedupe_key: str | None = None,
    training_session_id: int | None = None,
    booking_id: int | None = None,
) -> OutgoingEmail | None:
    """Add a message to the outbox in the current transaction. Returns None if dedupe_key was used before."""
    if dedupe_key is not None and dedupe_key_used(dedupe_key):
        return None
    email = OutgoingEmail(
        template=template,
        to_address=to,
        subject=subject,
        body_text=text,
        body_html=html,
        attachments=attachments or None,
        dedupe_key=dedupe_key,
        training_session_id=training_session_id,
        booking_id=booking_id,
        status=EmailStatus.QUEUED,
        next_attempt_at=utcnow(),
    )
    db.session.add(email)
    _deliver_after_this_request(email)
    return email


def dedupe_key_used(key: str) -> bool:
    """Whether a message with this dedupe key was ever queued (each is sent at most once)."""
    return db.session.scalar(sa.select(OutgoingEmail.id).where(OutgoingEmail.dedupe_key == key)) is not None


def dedupe_keys_used(keys: list[str]) -> set[str]:
    """Which of these dedupe keys were queued before, in a few queries however many there are."""
    used: set[str] = set()
    for start in range(0, len(keys), 500):  # stay well under any backend's limit on bound parameters
        chunk = keys[start : start + 500]
        used.update(db.session.scalars(sa.select(OutgoingEmail.dedupe_key).where(OutgoingEmail.dedupe_key.in_(chunk))))
    return used


def _deliver_after_this_request(email: OutgoingEmail) -> None:
    if has_app_context():
        g.setdefault("queued_emails", []).append(email)


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"sent {len(self.sent)}, will retry {len(self.retrying)}, failed {len(self.failed)}"


class TemporaryFailure(Exception):
    pass


class ServerUnavailable(TemporaryFailure):
    """No connection to the mail server (refused, timed out, hung up before it greeted us)."""


class PermanentFailure(Exception):
    pass


def deliver_pending(
    *, now: datetime | None = None, ids: list[int] | None = None, limit: int = 200, timeout: float | None = None
) -> DeliveryReport:
    """Send what is due. Each row is claimed by a conditional update, so two workers never send one twice.

    `now` is the clock for what is due (tests move it); claims are stamped with it plus the real time elapsed,
    so rows claimed late in a long batch do not look stuck to another worker."""
    started = utcnow()
    now = now or started
    report = DeliveryReport()
    if ids is None:
        requeue_stuck(now=now)
        query = sa.select(OutgoingEmail.id).where(
            OutgoingEmail.status == EmailStatus.QUEUED, OutgoingEmail.next_attempt_at <= now
        )
        due = db.session.scalars(query.order_by(OutgoingEmail.id).limit(limit)).all()
        db.session.commit()
    else:
        # Rows just queued, handed over by a request (the courier): each claim checks that it is still queued and
        # due, so no query first. Rows left stuck by a dead worker are the scheduled runs' (above), never these.
        due = sorted(set(ids))[:limit]
    if not due:
        return report

    transport = _Transport(timeout or current_app.config["MAIL_TIMEOUT"])
    try:
        for email_id in due:
            claimed = _claim(email_id, now=now, claimed_at=now + (utcnow() - started))
            if claimed is None:
                continue  # another worker has it, or it failed moments ago and is backing off
            email, message = claimed
            if message is None:  # it could not be built, and is recorded as failed
                report.failed.append(email_id)
                continue
            try:
                transport.send(message)
            except PermanentFailure as error:
                _record_failure(email, str(error), permanent=True, now=now)
                report.failed.append(email_id)
            except TemporaryFailure as error:
                transport.reset()
                permanent = _record_failure(email, str(error), permanent=False, now=now)
                (report.failed if permanent else report.retrying).append(email_id)
                if isinstance(error, ServerUnavailable):
                    # The rest stay queued, untouched, for the next run: a server that hangs would
                    # otherwise cost a full timeout for every message in the batch.
                    break
            except Exception as error:  # one bad message must not block the rest of the queue
                log.exception("mail %s could not be sent", email_id)
                transport.reset()
                _record_failure(email, f"could not send: {type(error).__name__}", permanent=True, now=now)
                report.failed.append(email_id)
            else:
                _record_sent(email, now)
                report.sent.append(email_id)
    finally:
        transport.close()
    if report.sent or report.failed or report.retrying:
        log.info("mail delivery: %s", report)
    return report


def requeue_stuck(*, now: datetime) -> int:
    requeued = rows_changed(
        sa.update(OutgoingEmail)
        .where(OutgoingEmail.status == EmailStatus.SENDING, OutgoingEmail.claimed_at < now - STUCK_AFTER)
        .values(status=EmailStatus.QUEUED, claimed_at=None)
    )
    db.session.commit()
    return requeued


def retry_failed(email: OutgoingEmail, *, now: datetime | None = None) -> None:
    """A coordinator asks to try a failed message again (after this request, like newly queued mail)."""
    if email.status == EmailStatus.FAILED:
        email.status = EmailStatus.QUEUED
        email.next_attempt_at = now or utcnow()
        _deliver_after_this_request(email)


def _claim(email_id: int, *, now: datetime, claimed_at: datetime) -> tuple[OutgoingEmail, Message | None] | None:
    """Queued and still due -> sending, and the message built, in one transaction that ends before any SMTP:
    no transaction (on SQLite, the write lock) is held while talking to a slow mail server. None if another
    worker has it; (email, None) if it could not be built (and is now failed)."""
    claimed = rows_changed(
        sa.update(OutgoingEmail)
        .where(
            OutgoingEmail.id == email_id,
            OutgoingEmail.status == EmailStatus.QUEUED,
            OutgoingEmail.next_attempt_at <= now,
        )
        .values(status=EmailStatus.SENDING, claimed_at=claimed_at, attempts=OutgoingEmail.attempts + 1)
    )
    if claimed != 1:
        db.session.commit()
        return None
    email = db.session.get_one(OutgoingEmail, email_id, populate_existing=True)  # the row just claimed
    try:
        message = _build_message(email)
    except PermanentFailure as error:  # e.g. an address no mail server takes: say why
        db.session.commit()
        _record_failure(email, str(error), permanent=True, now=now)
        return email, None
    except Exception as error:  # e.g. a header Flask-Mail refuses: fail this row, not the batch
        log.exception("mail %s could not be built", email_id)
        db.session.commit()
        _record_failure(email, f"could not build: {type(error).__name__}", permanent=True, now=now)
        return email, None
    db.session.commit()
    return email, message


def _record_sent(email: OutgoingEmail, now: datetime) -> None:
    email.status = EmailStatus.SENT
    email.sent_at = now
    email.last_error = None
    # The body may hold a personal link: keep it no longer than needed.
    email.body_text = None
    email.body_html = None
    email.attachments = None
    db.session.commit()


def _record_failure(email: OutgoingEmail, reason: str, *, permanent: bool, now: datetime) -> bool:
    """Back off and retry a temporary failure; give up at once on a permanent one, or after the last try."""
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    email_id = email.id
    email.last_error = reason[:500]
    email.claimed_at = None
    if permanent or email.attempts >= max_attempts:
        email.status = EmailStatus.FAILED
        permanent = True
    else:
        delay = RETRY_DELAYS[min(email.attempts, len(RETRY_DELAYS)) - 1]
        email.status = EmailStatus.QUEUED
        email.next_attempt_at = now + delay
    db.session.commit()
    # Servers often quote the address they refuse ("550 <priya@...>: unknown user"): keep it out of the logs.
    log.warning("mail %s %s: %s", email_id, "failed" if permanent else "will retry", _without_addresses(reason)[:200])
    return permanent


def _build_message(email: OutgoingEmail) -> Message:
    config = current_app.config
    message = Message(
        subject=email.subject,
        recipients=[smtp_address(email.to_address)],
        body=email.body_text,
        html=email.body_html,
        sender=config["MAIL_DEFAULT_SENDER"],
    )
    # Replace Flask-Mail's random Message-ID (an extra header would add a second one): a retry keeps the same id.
    message.msgId = f"<outbox-{email.id}@{mail_domain()}>"
    for attachment in email.attachments or []:
        message.attach(attachment["filename"], attachment["content_type"], attachment["data"])
    return message


def smtp_address(address: str) -> str:
    """The address as a mail server takes it, in the envelope and the To header alike: an international
    domain in its ASCII (IDNA 2008, "xn--") form, as email_validator gives it. Flask-Mail's own conversion
    uses IDNA 2003, which sends "straße.de" to the different domain "strasse.de", and it cannot send at all
    to letters outside ASCII before the @ (that needs SMTPUTF8, which the forms do not accept)."""
    try:
        validated = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise PermanentFailure(f"not a valid email address: {error}") from None
    if validated.ascii_email is None:
        raise PermanentFailure(
            "the email address has letters outside a to z before the @, which mail servers do not accept"
        )
    return validated.ascii_email


# --- Forgetting: a person's address, and old rows ---------------------------------------------------------


def forget_recipient(*, address: str | None, booking_ids: sa.Select) -> int:
    """A person's identity is being removed: messages not yet sent to them (queued or failed, for one of
    booking_ids or to the address) are deleted; the record of those sent, or being sent now, keeps its
    template, subject, status and times but loses the address and any body. Returns how many were deleted."""
    theirs: sa.ColumnElement[bool] = OutgoingEmail.booking_id.in_(booking_ids)
    if address is not None:
        theirs = sa.or_(theirs, OutgoingEmail.to_address == address)
    deleted = rows_changed(
        sa.delete(OutgoingEmail).where(theirs, OutgoingEmail.status.in_((EmailStatus.QUEUED, EmailStatus.FAILED)))
    )
    rows_changed(
        sa.update(OutgoingEmail)
        .where(theirs)
        .values(to_address="", body_text=None, body_html=None, attachments=None, last_error=None)
    )
    return deleted


def _old(before: datetime) -> sa.ColumnElement[bool]:
    # Only finished rows, by when they were sent (or, failed, queued): one still queued is never lost.
    return sa.or_(
        sa.and_(OutgoingEmail.status == EmailStatus.SENT, OutgoingEmail.sent_at < before),
        sa.and_(OutgoingEmail.status == EmailStatus.FAILED, OutgoingEmail.created_at < before),
    )


def count_old_emails(before: datetime) -> int:
    """Rows sent before `before`, or failed and queued before it: the retention job deletes them."""
    return db.session.execute(sa.select(sa.func.count(OutgoingEmail.id)).where(_old(before))).scalar_one()


def delete_old_emails(before: datetime, *, batch: int) -> int:
    """Delete up to `batch` of the rows count_old_emails counts; how many went."""
    ids = sa.select(OutgoingEmail.id).where(_old(before)).order_by(OutgoingEmail.id).limit(batch).scalar_subquery()
    return rows_changed(sa.delete(OutgoingEmail).where(OutgoingEmail.id.in_(ids)))


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def _without_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


def mail_domain() -> str:
    """The sender's domain, for ids other systems keep (Message-ID, a calendar entry's UID)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "localhost"


class _Transport:
    """One SMTP connection reused for a batch, or .eml files when no MAIL_SERVER is configured."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.connection: Connection | None = None

    def send(self, message: Message) -> None:
        if not current_app.config.get("MAIL_SERVER"):
            self._write_eml(message)
            return
        if self.connection is None:
            try:
                self.connection = _TimedConnection(self.timeout).__enter__()
            except (smtplib.SMTPException, OSError) as error:
                raise ServerUnavailable(f"{type(error).__name__}: {error}") from None
        try:
            self.connection.send(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            reason = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in error.recipients.values())
            raise (PermanentFailure if all(c >= 500 for c in codes) else TemporaryFailure)(reason) from None
        except smtplib.SMTPResponseException as error:
            reason = f"{error.smtp_code} {_text(error.smtp_error)}"
            raise (PermanentFailure if error.smtp_code >= 500 else TemporaryFailure)(reason) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from None

    def _write_eml(self, message: Message) -> None:
        folder = os.path.join(current_app.instance_path, "mail")
        os.makedirs(folder, exist_ok=True)
        message_id = message.msgId.strip("<>").split("@")[0]
        path = os.path.join(folder, f"{message_id}.eml")
        with open(path + ".tmp", "wb") as handle:
            handle.write(message.as_bytes())
        os.replace(path + ".tmp", path)

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            host = self.connection.host
            if host is not None:  # set when the connection opened
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    host.quit()
            self.connection = None


class _TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout, so a hung server cannot hang a request.

    It reads the MAIL_* settings from current_app.config when it connects. (The unbound `mail` extension
    has no state of its own, and the app's Flask-Mail state suppresses sending whenever TESTING is on;
    here MAIL_SERVER alone decides between SMTP and .eml files.)"""

    def __init__(self, timeout: float):
        super().__init__(current_app.extensions["mail"])  # for MAIL_MAX_EMAILS
        self.timeout = timeout

    def __enter__(self):
        self.host = self.configure_host()
        self.num_emails = 0
        return self

    def configure_host(self):
        config = current_app.config
        server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
        host: smtplib.SMTP  # SMTP_SSL is an SMTP
        if config["MAIL_USE_SSL"]:
            host = smtplib.SMTP_SSL(server, port, timeout=self.timeout)
        else:
            host = smtplib.SMTP(server, port, timeout=self.timeout)
        if config["MAIL_USE_TLS"]:
            host.starttls()
        if config["MAIL_USERNAME"] and config["MAIL_PASSWORD"]:
            host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        return host


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def init_app(app: Flask) -> None:
    @app.after_request
    def deliver_after_response(response):
        queued = getattr(g, "queued_emails", None)
        if not queued or not app.config["MAIL_DELIVER_AFTER_REQUEST"]:
            return response
        # Identity keys survive the commit without another query; rows rolled back have none.
        ids = [key[1][0] for key in (sa.inspect(e).identity_key for e in queued) if key is not None]
        if ids:
            # Once the response is sent: a queue put, however slow the mail server is.
            response.call_on_close(lambda: _courier.hand_over(app, ids))
        return response


class _Courier:
    """This process's mail courier: one daemon thread, started when a request first hands it mail (so
    each gunicorn worker, forked from the arbiter, starts its own), fed by a queue of (app, ids) jobs. Each
    job runs in an app context of its own; jobs for the same app waiting together go out as one batch (one
    SMTP connection, and one timeout if the server hangs). Rows are claimed by a conditional update, so
    couriers in several processes and `flask mail deliver` never send one message twice."""

    def __init__(self):
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: deque[tuple[Flask, list[int]]] = deque()
        self._unfinished: Counter = Counter()  # app -> jobs handed over and not yet done
        self._thread: threading.Thread | None = None

    def hand_over(self, app: Flask, ids: list[int]) -> None:
        with self._lock:
            self._jobs.append((app, list(ids)))
            self._unfinished[app] += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mail-courier", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def wait_until_idle(self, app: Flask | None = None, timeout: float = 30.0) -> bool:
        """Until every job handed over (for `app`, or for any app) is done; False if `timeout` ran out."""
        with self._lock:
            return self._changed.wait_for(
                lambda: not (self._unfinished[app] if app is not None else sum(self._unfinished.values())),
                timeout=timeout,
            )

    def _run(self) -> None:
        while True:
            with self._lock:
                self._changed.wait_for(lambda: self._jobs)
                app, ids = self._jobs.popleft()
                jobs = 1
                for other in [job for job in self._jobs if job[0] is app]:
                    self._jobs.remove(other)
                    ids.extend(other[1])
                    jobs += 1
            try:
                _deliver_quietly(app, ids)
            finally:
                with self._lock:
                    self._unfinished[app] -= jobs
                    if self._unfinished[app] <= 0:
                        del self._unfinished[app]  # and the app with it: the courier keeps no app alive
                    self._changed.notify_all()


_courier = _Courier()
# A forked child (a gunicorn worker) has no courier thread, and perhaps a lock its parent held: start afresh.
os.register_at_fork(after_in_child=_courier._reset)
# On a clean exit (gunicorn's graceful stop), let the courier finish what it was handed, briefly.
atexit.register(lambda: _courier.wait_until_idle(timeout=10))


def wait_until_courier_idle(app: Flask | None = None, timeout: float = 30.0) -> bool:
    """For tests and shutdown: until the courier has sent (or given up on) all it was handed."""
    return _courier.wait_until_idle(app, timeout=timeout)


def _deliver_quietly(app: Flask, ids: list[int]) -> None:
    """Best effort, soon after the response: a failure leaves the rows for `flask mail deliver`."""
    with app.app_context():
        try:
            deliver_pending(ids=ids, timeout=app.config["MAIL_TIMEOUT_INLINE"])
        except Exception:  # the courier must live on, and the rows stay queued
            db.session.rollback()
            log.exception("mail delivery after request failed; left queued")
