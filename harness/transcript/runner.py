"""The runner: executes a loaded case against a target profile and returns typed results.

One :class:`Runner` per run; it caches each endpoint's capabilities so ``requires`` gates
cost one probe per protocol, not one per case. A case stops at its first failing step.
Connections are opened when a step first uses them, in the start state their spec names.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..client import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    ImapResponse,
    ReadTimeout,
    Session,
    expects_body,
)
from ..target import Profile
from .computed import cram_md5, credential_variables, domain_variables
from .matchers import Verdict, check_imap, check_imap_single, check_pop3, check_smtp
from .model import (
    MAIN,
    Case,
    Close,
    ConnectionSpec,
    Expect,
    Send,
    SendMessage,
    SendRaw,
    Sleep,
    StartTls,
    Step,
    WaitMaildrop,
)
from .results import CaseResult, Status, StepResult
from .setup import (
    NoEndpoint,
    SetupError,
    apop_digest,
    dot_stuff,
    endpoint_of,
    open_connection,
    probe_capabilities,
    wait_for_messages,
)
from .variables import UndefinedVariable, substitute

StepCallback = Callable[[CaseResult, StepResult], None]


class StepFailed(Exception):
    """A step's expectation was not met; carries the verdict for the report."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass
class _Connection:
    session: Session
    spec: ConnectionSpec
    commands: deque[bytes] = field(default_factory=deque)  # POP3: sent, not yet answered
    tags: deque[str] = field(default_factory=deque)  # IMAP: sent, not yet completed
    held: list[ImapResponse] = field(default_factory=list)  # IMAP untagged read early
    responses: int = 0


class Runner:
    def __init__(self, profile: Profile, *, on_step: StepCallback | None = None) -> None:
        self.profile = profile
        self.on_step = on_step
        self._capabilities: dict[str, frozenset[str]] = {}

    def run(self, case: Case) -> CaseResult:
        return _CaseRun(self, case).run()

    def capabilities(self, protocol: str, run: _CaseRun) -> frozenset[str]:
        if protocol not in self._capabilities:
            self._capabilities[protocol] = probe_capabilities(self.profile, protocol, run.log)
        return self._capabilities[protocol]


class _CaseRun:
    def __init__(self, runner: Runner, case: Case) -> None:
        self.runner = runner
        self.case = case
        self.values = runner.profile.variables()
        user = runner.profile.user(case.connections[MAIN].user)
        if user is not None:
            self.values.update(credential_variables(user.name, user.password))
        self.values.update(domain_variables(runner.profile.domain))
        try:
            target: object = endpoint_of(runner.profile, case.connections[MAIN])
        except SetupError:
            target = ""
        self.result = CaseResult(case, Status.PASS, target=str(target))
        self.log = self.result.log
        self.connections: dict[str, _Connection] = {}

    def run(self) -> CaseResult:
        started = time.monotonic()
        try:
            self._gate()
            for step in self.case.steps:
                outcome = self._step(step)
                self.result.steps.append(outcome)
                if self.runner.on_step:
                    self.runner.on_step(self.result, outcome)
                if outcome.status != Status.PASS:
                    self.result.status = outcome.status
                    where = f"step {step.index + 1} ({step.location})"
                    self.result.reason = f"{where}: {outcome.message}"
                    break
        except NoEndpoint as exc:
            self.result.status, self.result.reason = Status.SKIP, str(exc)
        except _Skip as exc:
            self.result.status, self.result.reason = Status.SKIP, str(exc)
        except (SetupError, ConnectError) as exc:
            self.result.status, self.result.reason = Status.ERROR, str(exc)
        finally:
            for connection in self.connections.values():
                connection.session.close()
            self.result.duration = time.monotonic() - started
        return self.result

    def _gate(self) -> None:
        for spec in self.case.connections.values():
            if spec.endpoint is not None:
                endpoint_of(self.runner.profile, spec)  # NoEndpoint: the case is skipped
        if not self.case.requires:
            return
        advertised = self.runner.capabilities(self.case.protocol, self)
        missing = [cap for cap in self.case.requires if cap not in advertised]
        if missing:
            raise _Skip(f"the target does not advertise {', '.join(missing)}")

    def _timeout(self, step: Step, session: Session) -> float:
        return step.timeout or self.case.timeout or session.target.step_timeout

    def _connection(self, name: str) -> _Connection:
        if name not in self.connections:
            spec = self.case.connections[name]
            session = open_connection(self.runner.profile, spec, log=self.log, name=name,
                                      values=self.values)
            self.connections[name] = _Connection(session, spec)
        return self.connections[name]

    def _step(self, step: Step) -> StepResult:
        mark = len(self.log.entries)
        outcome = StepResult(step, Status.PASS)
        try:
            if isinstance(step.action, WaitMaildrop):
                self._wait_maildrop(step, step.action)
                return self._finish(outcome, step, mark)
            connection = self._connection(step.connection)
            mark = len(self.log.entries)  # the start state's exchange is not this step's
            with connection.session.time_limit(self._timeout(step, connection.session)):
                if step.action is not None:
                    self._act(connection, step)
                for expect in step.expects:
                    verdict = self._expect(connection, expect, step)
                    outcome.expected += verdict.expected
        except StepFailed as exc:
            outcome.status, outcome.message = Status.FAIL, str(exc)
            if exc.verdict is not None:
                outcome.expected += exc.verdict.expected
                outcome.diff = exc.verdict.diff()
        except UndefinedVariable as exc:
            outcome.status, outcome.message = Status.ERROR, str(exc)
        except (NoEndpoint, _Skip):
            raise
        except (SetupError, ConnectError) as exc:
            outcome.status, outcome.message = Status.ERROR, str(exc)
        except ClientError as exc:
            # Timeouts, early closes, malformed or oversized responses: the server's doing.
            outcome.status, outcome.message = Status.FAIL, f"{type(exc).__name__}: {exc}"
        return self._finish(outcome, step, mark)

    def _finish(self, outcome: StepResult, step: Step, mark: int) -> StepResult:
        entries = [e for e in self.log.entries[mark:] if e.connection == step.connection]
        outcome.entries = entries
        outcome.sent = b"".join(e.data for e in entries if e.direction == "C")
        outcome.received = b"".join(e.data for e in entries if e.direction == "S")
        return outcome

    # -- actions ---------------------------------------------------------------------------

    def _act(self, connection: _Connection, step: Step) -> None:
        action, session = step.action, connection.session
        if isinstance(action, Send):
            lines = [substitute(line, self.values).encode("utf-8") for line in action.lines]
            if session.protocol == "imap":
                self._send_imap(connection, lines, action)
            else:
                connection.commands.extend(lines)
                session.send(b"".join(line + b"\r\n" for line in lines))
        elif isinstance(action, SendRaw):
            data = substitute(action.data, self.values).encode("latin-1")
            connection.commands.extend(line for line in data.splitlines() if line)
            session.send(data)
        elif isinstance(action, SendMessage):
            content = action.content
            session.send(dot_stuff(content) + b".\r\n" if action.terminate else content)
        elif isinstance(action, StartTls):
            if action.command:
                self._starttls_command(connection)
            session.start_tls()
        elif isinstance(action, Sleep):
            time.sleep(action.seconds)
        elif isinstance(action, Close):
            session.close()

    def _wait_maildrop(self, step: Step, action: WaitMaildrop) -> None:
        spec = self.case.connections[step.connection]
        user = self.runner.profile.user(spec.user)
        if user is None:
            raise SetupError(f"wait_maildrop needs user {spec.user} in the profile")
        target = endpoint_of(self.runner.profile, spec)
        timeout = step.timeout or self.case.timeout or 10.0
        try:
            wait_for_messages(target, user, action.messages, self.log, timeout=timeout,
                              name=step.connection)
        except SetupError as exc:
            raise StepFailed(str(exc)) from None
        except (ClientError, ValueError, IndexError) as exc:
            raise SetupError(f"wait_maildrop: {exc}") from None

    def _starttls_command(self, connection: _Connection) -> None:
        session = connection.session
        if session.protocol in ("smtp", "lmtp"):
            reply = session.smtp(b"STARTTLS")
            ok, got = reply.code == 220, reply.text
        elif session.protocol == "pop3":
            response = session.pop3(b"STLS")
            ok, got = response.ok, response.text
        else:
            _, tagged = session.imap(b"STARTTLS")
            ok, got = tagged.status == "OK", tagged.text
        if not ok:
            raise StepFailed(f"STARTTLS refused: {got!r}")

    def _send_imap(self, connection: _Connection, lines: list[bytes], action: Send) -> None:
        session = connection.session
        literals = [substitute(text, self.values).encode("utf-8") for text in action.literals]
        for line in lines:
            tag = action.tag if action.tag and len(lines) == 1 else session.next_tag()
            connection.tags.append(tag)
            pieces = (tag.encode() + b" " + line).split(b"{literal}")
            for piece in pieces[:-1]:
                literal = literals.pop(0)
                marker = b"{%d+}" % len(literal) if action.literal_plus else b"{%d}" % len(literal)
                session.send(piece + marker + b"\r\n")
                if not action.literal_plus:
                    self._await_continuation(connection)
                session.send(literal)
            session.send(pieces[-1] + b"\r\n")

    def _await_continuation(self, connection: _Connection) -> None:
        while True:
            response = connection.session.read_imap()
            if response.kind == "continuation":
                return
            if response.kind == "tagged":
                raise StepFailed(f"the server refused the literal: {response.text!r}")
            connection.held.append(response)

    # -- expectations ----------------------------------------------------------------------

    def _expect(self, connection: _Connection, expect: Expect, step: Step) -> Verdict:
        session = connection.session
        if expect.closed:
            return self._expect_closed(session, step)
        protocol = session.protocol
        challenge: str | None = None
        if protocol in ("smtp", "lmtp"):
            reply = session.read_smtp()
            if reply.code == 334:
                challenge = reply.lines[0].decode("ascii", "replace") if reply.lines else ""
            verdict = check_smtp(expect, reply, self.values)
        elif protocol == "pop3":
            command = connection.commands.popleft() if connection.commands else None
            multiline = expect.multiline
            if multiline is None:
                multiline = command is not None and expects_body(command)
            response = session.read_pop3(multiline)
            if connection.responses == 0 and command is None:
                self._note_apop(connection, response.line)
            if response.status == "+":
                challenge = response.line[2:].decode("ascii", "replace")
            verdict = check_pop3(expect, response, self.values)
        else:
            verdict, final = self._expect_imap(connection, expect)
            if final is not None and final.kind == "continuation":
                challenge = final.data if final.text != "+" else ""
        connection.responses += 1
        if not verdict.ok:
            raise StepFailed("; ".join(verdict.problems), verdict)
        self.values.update(verdict.captures)
        if challenge is not None:
            self._note_challenge(connection, challenge)
        return verdict

    def _expect_imap(self, connection: _Connection,
                     expect: Expect) -> tuple[Verdict, ImapResponse | None]:
        session = connection.session
        if not connection.tags and not connection.held:
            single = session.read_imap()
            return check_imap_single(expect, single, self.values), single
        untagged, connection.held = connection.held, []
        while True:
            response = session.read_imap()
            if response.kind == "continuation" and expect.continuation:
                break
            if response.kind == "tagged":
                if connection.tags and response.tag == connection.tags[0]:
                    connection.tags.popleft()
                    break
                raise StepFailed(f"tagged response for {response.tag}, expected "
                                 f"{connection.tags[0] if connection.tags else 'none'}")
            untagged.append(response)
        return check_imap(expect, untagged, response, self.values), response

    def _expect_closed(self, session: Session, step: Step) -> Verdict:
        verdict = Verdict(expected=["the connection closes"])
        try:
            extra = session.wait_closed(self._timeout(step, session))
        except ReadTimeout as exc:
            verdict.actual = ["(still open)"]
            raise StepFailed("expected the server to close the connection; it stayed open",
                             verdict) from exc
        except ConnectionClosed:
            extra = b""
        if extra:
            verdict.actual = extra.decode("utf-8", "replace").splitlines()
            raise StepFailed("expected the connection to close, got more data first", verdict)
        verdict.actual = ["(closed)"]
        return verdict

    def _note_apop(self, connection: _Connection, greeting: bytes) -> None:
        user = self.runner.profile.user(connection.spec.user)
        if user is not None:
            digest = apop_digest(greeting, user.password)
            if digest:
                self.values.setdefault("apop", digest)


    def _note_challenge(self, connection: _Connection, challenge: str) -> None:
        # Every continuation may be a CRAM-MD5 challenge: the answer to the latest one is
        # what a following $cram_md5 must send (RFC 2195 §2).
        user = self.runner.profile.user(connection.spec.user)
        if user is not None:
            answer = cram_md5(challenge, user.name, user.password)
            if answer is not None:
                self.values["cram_md5"] = answer


class _Skip(Exception):
    pass
