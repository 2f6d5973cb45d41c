"""SMTP servers on loopback for the tests, and the one list of ports a test may send mail to. A plain module
(not conftest.py), so every fixture and test that imports it shares the same ALLOWED_SMTP_PORTS."""

import contextlib
import smtplib
import socket
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from mecc_volunteer.mail import wait_until_courier_idle

# Ports of the tests' own SMTP servers; conftest's autouse guard refuses a connection to any other.
ALLOWED_SMTP_PORTS: set[int] = set()
real_smtp_connect = smtplib.SMTP.connect


def free_port() -> int:
    """aiosmtpd will not bind port 0, so ask the OS for a free port first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


COURIER_TIMEOUT = 30.0  # seconds: generous, for a busy CI machine


def wait_for_mail(app=None) -> None:
    """Until the mail courier (the background thread that sends mail after each request) has sent, or
    given up on, everything it was handed: for `app`, or for every app."""
    assert wait_until_courier_idle(app, timeout=COURIER_TIMEOUT), f"mail courier still busy after {COURIER_TIMEOUT}s"


class RecordingHandler:
    """Accepts every message; `reply` can be set to an SMTP error such as '421 ...' or '550 ...'.

    Setting `reply` first waits for the courier, so mail handed over before the change meets the server
    as it was then (as it did when mail went out on the request's own thread)."""

    def __init__(self):
        self.messages = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO) of each message accepted
        self._reply: str | None = None
        self.lock = threading.Lock()

    @property
    def reply(self) -> str | None:
        return self._reply

    @reply.setter
    def reply(self, value: str | None) -> None:
        wait_for_mail()
        self._reply = value

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
        if self._reply:
            return self._reply
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SMTPServer:
    """A real SMTP server on loopback. `messages` and `envelopes` wait for the courier first, so a test can
    read them straight after a request."""

    def __init__(self):
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        wait_for_mail()
        return self.handler.messages

    @property
    def envelopes(self):
        wait_for_mail()
        return self.handler.envelopes

    def start(self):
        self.controller.start()

    def stop(self):
        wait_for_mail()  # mail handed over while the server was up finds it up
        self.controller.stop()


class SilentSMTPServer:
    """A mail server that has hung: it accepts connections and never says a word, not even the greeting.
    Each connection is held until stop(); `hung_up` counts those the client has closed meanwhile."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Semaphore(0)
        self.hung_up = 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="silent-smtp", daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # stopped
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()
            self.accepted.release()

    def _hold(self, connection):
        try:
            while connection.recv(1024):
                pass
        except OSError:
            return  # closed by stop()
        with self.lock:
            self.hung_up += 1

    def stop(self):
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
