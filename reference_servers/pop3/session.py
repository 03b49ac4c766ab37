"""What the server answers to each command: authentication, the maildrop, the policy.

This is the decision layer between the sans-IO :class:`Connection` (framing, state) and
the asyncio server (sockets, sleeping, TLS). It touches the store and the user table, so
it is not part of the I/O-free core; it never touches a socket or the event loop. The
server asks :func:`needs_thread` which commands may block (scrypt, flock, fsync).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..auth import (
    SaslChallenge,
    SaslError,
    SaslExchange,
    SaslFailure,
    SaslSuccess,
    UserTable,
    mechanisms_for,
)
from ..store import MessageNotFound, Store, StoreError
from . import _events as ev
from ._replies import R, Reply
from .maildrop import (
    LoginTooSoon,
    Maildrop,
    MaildropInUse,
    MessageDeleted,
    NoSuchMessage,
)
from .policy import Pop3Policy

_PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})
_Answer = Callable[[int], ev.Response]
_serial = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Action:
    """A response plus what the transport must do around it."""

    response: ev.Response
    delay: float = 0.0  # sleep this long before sending (failed logins)
    close: bool = False  # close the connection after sending
    start_tls: bool = False  # begin the TLS handshake after sending (STLS)


def needs_thread(command: ev.Command) -> bool:
    """Commands whose handling may block: password hashing, locking, fsync."""
    return isinstance(command, (ev.Pass, ev.Apop, ev.Auth, ev.AuthResponse, ev.Quit))


def apop_timestamp(hostname: str) -> bytes:
    """RFC 1939 §7: a timestamp unique per greeting, ``<process-ID.clock@hostname>``."""
    return f"<{os.getpid()}.{time.time_ns()}.{next(_serial)}@{hostname}>".encode("ascii")


class Session:
    def __init__(
        self,
        *,
        store: Store,
        users: UserTable,
        hostname: str,
        policy: Pop3Policy,
        tls_available: bool,
        secure: bool,
    ) -> None:
        self._store = store
        self._users = users
        self._hostname = hostname
        self._policy = policy
        self._tls_available = tls_available
        self.secure = secure
        self._apop = policy.apop and users.has_retrievable_secrets()
        self.timestamp = apop_timestamp(hostname) if self._apop else None
        self._login: str | None = None  # from USER, for the PASS that follows
        self._sasl: SaslExchange | None = None
        self._failures = 0
        self.maildrop: Maildrop | None = None

    # -- greeting and capabilities -----------------------------------------------------------

    def greeting_text(self) -> str:
        text = f"{self._hostname} POP3 server ready"
        if self.timestamp is not None:
            text += " " + self.timestamp.decode("ascii")
        return text

    def _plaintext_ok(self) -> bool:
        # RFC 2595 §2.2 and §4: a server may refuse cleartext passwords until TLS is on.
        return self.secure or self._policy.allow_plaintext_auth

    def _mechanisms(self) -> list[str]:
        mechs = mechanisms_for(self._users)
        return [m for m in mechs if self._plaintext_ok() or m not in _PLAINTEXT_MECHANISMS]

    def capabilities(self) -> list[bytes]:
        """RFC 2449 §5/§6; the list changes with the state and after STLS."""
        authorization = self.maildrop is None
        caps = ["TOP", "UIDL"]
        if authorization and self._plaintext_ok():
            caps.append("USER")
        mechs = self._mechanisms()
        if authorization and mechs:
            caps.append("SASL " + " ".join(mechs))
        caps += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        caps.append(f"EXPIRE {self._policy.expire_capability}")
        caps.append(f"LOGIN-DELAY {self._policy.login_delay}")
        caps.append(f"IMPLEMENTATION {self._policy.implementation}")
        if authorization and self._tls_available and not self.secure:
            caps.append("STLS")
        return [c.encode("ascii") for c in caps]

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, command: ev.Command) -> Action:
        handler = _HANDLERS[type(command)]
        return handler(self, command)

    def close(self) -> None:
        """The connection ended without UPDATE: release the lock, remove nothing."""
        if self.maildrop is not None:
            self.maildrop.release()
            self.maildrop = None

    # -- AUTHORIZATION -----------------------------------------------------------------------

    def _capa(self, command: ev.Capa) -> Action:
        return Action(ev.Listing(R.CAPA_OK, self.capabilities()))

    def _user(self, command: ev.User) -> Action:
        if not self._plaintext_ok():
            return Action(ev.Status(R.PLAINTEXT_DISABLED))
        # RFC 1939 §7 lets USER fail for unknown names; answering +OK to every name
        # keeps the user list private (the PASS that follows fails instead).
        self._login = command.name
        return Action(ev.Status(R.USER_OK))

    def _pass(self, command: ev.Pass) -> Action:
        login, self._login = self._login, None
        assert login is not None  # the state table admits PASS only after USER +OK
        user = self._users.verify_password(login, command.password)
        return self._login_result(user)

    def _apop_cmd(self, command: ev.Apop) -> Action:
        if self.timestamp is None:
            return Action(ev.Status(R.APOP_UNAVAILABLE))
        user = self._users.verify_apop(command.name, self.timestamp, command.digest)
        return self._login_result(user)

    def _auth(self, command: ev.Auth) -> Action:
        if command.mechanism not in self._mechanisms():
            return Action(ev.Status(R.SASL_UNSUPPORTED, (command.mechanism,)))
        try:
            self._sasl = SaslExchange(command.mechanism, self._users, hostname=self._hostname)
            step = self._sasl.start(command.initial)
        except SaslError as exc:
            return Action(ev.Status(R.SASL_MALFORMED, (exc.reason,)))
        return self._sasl_step(step)

    def _auth_response(self, command: ev.AuthResponse) -> Action:
        exchange, data = self._sasl, command.data
        assert exchange is not None  # the state table admits responses only during AUTH
        if data is None:
            # RFC 5034 §4: "*" cancels; the server MUST reject the AUTH with -ERR.
            self._sasl = None
            return Action(ev.Status(R.SASL_CANCELLED))
        try:
            step = exchange.step(data)
        except SaslError as exc:
            self._sasl = None
            return Action(ev.Status(R.SASL_MALFORMED, (exc.reason,)))
        return self._sasl_step(step)

    def _sasl_step(self, step: SaslChallenge | SaslSuccess | SaslFailure) -> Action:
        if isinstance(step, SaslChallenge):
            return Action(ev.Challenge(step.data))
        self._sasl = None
        if isinstance(step, SaslSuccess):
            return self._login_result(step.user)
        if step.malformed:
            return Action(ev.Status(R.SASL_MALFORMED, (step.reason,)))
        return self._failed(R.SASL_FAILED)

    def _failed(self, reply: Reply) -> Action:
        self._failures += 1
        delay = self._policy.auth_failure_delay
        if self._failures >= self._policy.max_auth_failures:
            return Action(ev.Status(R.TOO_MANY_FAILURES), delay=delay, close=True)
        return Action(ev.Status(reply), delay=delay)

    def _login_result(self, user: str | None) -> Action:
        if user is None:
            return self._failed(R.AUTH_FAILED)
        try:
            self.maildrop = Maildrop.open(
                self._store, user, login_delay=self._policy.login_delay
            )
        except MaildropInUse:
            return Action(ev.Status(R.IN_USE))
        except LoginTooSoon as exc:
            return Action(ev.Status(R.LOGIN_DELAY, (exc.ago, exc.delay)))
        except (StoreError, OSError) as exc:
            return Action(ev.Status(R.MAILDROP_TEMP, (_reason(exc),)))
        count, octets = self.maildrop.stat()
        return Action(ev.Status(R.LOGIN_OK, (count, octets)))

    def _stls(self, command: ev.Stls) -> Action:
        if self.secure:
            return Action(ev.Status(R.STLS_ACTIVE))
        if not self._tls_available:
            return Action(ev.Status(R.STLS_UNAVAILABLE))
        self.secure = True  # the transport starts the handshake right after the +OK
        return Action(ev.Status(R.STLS_OK), start_tls=True)

    def _quit(self, command: ev.Quit) -> Action:
        drop = self.maildrop
        if drop is None:
            return Action(ev.Status(R.QUIT_AUTHORIZATION), close=True)
        # RFC 1939 §6: the UPDATE state removes the marked messages, then closes.
        try:
            uids = drop.to_remove(self._policy.mode, self._policy.expire_days)
            drop.commit(uids)
        except (StoreError, OSError) as exc:
            return Action(ev.Status(R.QUIT_NOT_REMOVED, (_reason(exc),)), close=True)
        finally:
            self.close()
        return Action(ev.Status(R.QUIT_OK, (drop.remaining(len(uids)),)), close=True)

    # -- TRANSACTION -------------------------------------------------------------------------

    def _drop(self) -> Maildrop:
        assert self.maildrop is not None  # the state table admits these only in TRANSACTION
        return self.maildrop

    def _stat(self, command: ev.Stat) -> Action:
        return Action(ev.Status(R.STAT_OK, self._drop().stat()))

    def _list(self, command: ev.List) -> Action:
        drop = self._drop()
        if command.msg is not None:
            return self._about(command.msg, lambda n: ev.Status(
                R.LIST_ONE, (n, drop.info(n).size)))
        count, octets = drop.stat()
        lines = [b"%d %d" % (n, m.size) for n, m in drop.listing()]
        return Action(ev.Listing(R.LIST_ALL, lines, (count, octets)))

    def _uidl(self, command: ev.Uidl) -> Action:
        drop = self._drop()
        if command.msg is not None:
            return self._about(command.msg, lambda n: ev.Status(
                R.UIDL_ONE, (n, drop.info(n).key)))
        lines = [f"{n} {m.key}".encode("ascii") for n, m in drop.listing()]
        return Action(ev.Listing(R.UIDL_ALL, lines))

    def _retr(self, command: ev.Retr) -> Action:
        drop = self._drop()
        return self._about(command.msg, lambda n: ev.Content(
            R.RETR_OK, drop.retrieve(n), (drop.info(n).size,)))

    def _top(self, command: ev.Top) -> Action:
        drop = self._drop()
        return self._about(command.msg, lambda n: ev.Content(R.TOP_OK, drop.top(n, command.lines)))

    def _dele(self, command: ev.Dele) -> Action:
        drop = self._drop()

        def mark(n: int) -> ev.Response:
            drop.delete(n)
            return ev.Status(R.DELE_OK, (n,))

        return self._about(command.msg, mark)

    def _noop(self, command: ev.Noop) -> Action:
        return Action(ev.Status(R.NOOP_OK))

    def _rset(self, command: ev.Rset) -> Action:
        drop = self._drop()
        drop.reset()
        return Action(ev.Status(R.RSET_OK, drop.stat()))

    def _about(self, number: int, answer: _Answer) -> Action:
        """Run ``answer`` for one message number, mapping lookup failures to -ERR."""
        try:
            return Action(answer(number))
        except NoSuchMessage:
            return Action(ev.Status(R.NO_SUCH_MESSAGE, (len(self._drop()),)))
        except MessageDeleted:
            return Action(ev.Status(R.MESSAGE_DELETED, (number,)))
        except MessageNotFound:
            return Action(ev.Status(R.MESSAGE_GONE, (number,)))
        except (StoreError, OSError):
            return Action(ev.Status(R.READ_FAILED, (number,)))


def _reason(exc: BaseException) -> str:
    # An OSError's str() names file paths; the client gets only the error's description.
    text = (exc.strerror or "I/O error") if isinstance(exc, OSError) else str(exc)
    text = text or type(exc).__name__
    return text.splitlines()[0][:200]


_HANDLERS: dict[type[ev.Command], Callable[[Session, Any], Action]] = {
    ev.Capa: Session._capa,
    ev.User: Session._user,
    ev.Pass: Session._pass,
    ev.Apop: Session._apop_cmd,
    ev.Auth: Session._auth,
    ev.AuthResponse: Session._auth_response,
    ev.Stls: Session._stls,
    ev.Quit: Session._quit,
    ev.Stat: Session._stat,
    ev.List: Session._list,
    ev.Uidl: Session._uidl,
    ev.Retr: Session._retr,
    ev.Top: Session._top,
    ev.Dele: Session._dele,
    ev.Noop: Session._noop,
    ev.Rset: Session._rset,
}
