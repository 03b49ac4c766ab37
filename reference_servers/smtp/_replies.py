"""The one reply table of the SMTP server: every code, enhanced status and text it sends.

Reply codes are RFC 5321 §4.2; enhanced status codes are RFC 3463, sent on every
2xx/4xx/5xx reply (RFC 2034 §3) except the greeting and the HELO/EHLO replies, which
RFC 2034 §3 exempts. Nothing outside this module writes a reply code or a reply text.
"""

from __future__ import annotations

from dataclasses import dataclass

_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Reply:
    """One (possibly multi-line) reply, RFC 5321 §4.2.1."""

    code: int
    status: str | None  # enhanced status code "x.y.z", or None
    lines: tuple[str, ...]

    @property
    def is_error(self) -> bool:
        return self.code >= 400

    def to_bytes(self) -> bytes:
        # RFC 5321 §4.2.1: every line but the last has "-" after the code. RFC 2034 §4:
        # the enhanced code starts every line of a multi-line reply.
        prefix = f"{self.status} " if self.status else ""
        lines = self.lines or ("",)
        out = []
        for index, text in enumerate(lines):
            sep = " " if index == len(lines) - 1 else "-"
            # RFC 4954 §4: continue-req = "334" SP [base64] CRLF keeps the space even
            # when the challenge is empty.
            out.append(f"{self.code}{sep}{prefix}{text}".encode() + _CRLF)
        return b"".join(out)


@dataclass(frozen=True, slots=True)
class Template:
    """A row of the table: a code, an enhanced status and a text with ``{fields}``."""

    code: int
    status: str | None
    text: str

    def __call__(self, *extra: str, **fields: object) -> Reply:
        """The reply; ``extra`` lines come first (multi-line replies, e.g. EHLO)."""
        first = self.text.format(**fields) if fields else self.text
        if extra:
            return Reply(self.code, self.status, (first, *extra))
        return Reply(self.code, self.status, (first,))

    def lines(self, lines: tuple[str, ...]) -> Reply:
        """The reply with these exact lines (the table's text is a fallback when empty)."""
        return Reply(self.code, self.status, lines or (self.text,))


_T = Template

# -- 2xx ----------------------------------------------------------------------------
SYSTEM_STATUS = _T(211, "2.0.0", "{host} system status: accepting mail; HELP <command> for "
                  "help on a command")
GREETING = _T(220, None, "{host} ESMTP mailharness reference server ready")
TLS_GO_AHEAD = _T(220, "2.0.0", "Ready to start TLS")
CLOSING = _T(221, "2.0.0", "{host} Service closing transmission channel")
AUTH_OK = _T(235, "2.7.0", "Authentication successful")
HELO_OK = _T(250, None, "{host} Hello {peer}")
EHLO_OK = _T(250, None, "{host} Hello {peer}")  # extension keywords follow as extra lines
OK = _T(250, "2.0.0", "OK")
SENDER_OK = _T(250, "2.1.0", "Sender <{address}> OK")
RECIPIENT_OK = _T(250, "2.1.5", "Recipient <{address}> OK")
RECIPIENT_RELAYED = _T(250, "2.1.5", "Recipient <{address}> OK, will relay")
WILL_FORWARD = _T(251, "2.1.5", "User not local; will forward to <{target}>")
VRFY_OK = _T(250, "2.1.5", "{address}")
EXPN_OK = _T(250, "2.1.5", "{address}")  # one line per member
CANNOT_VRFY = _T(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")
VRFY_LIST = _T(252, "2.1.5", "{address} is a mailing list; use EXPN")
QUEUED = _T(250, "2.0.0", "OK: message queued as {queue_id}")
CHUNK_OK = _T(250, "2.0.0", "{size} octets received")
RESET_OK = _T(250, "2.0.0", "Reset OK")
NOOP_OK = _T(250, "2.0.0", "OK")
HELP = _T(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN "
          "HELP STARTTLS AUTH")
HELP_TOPIC = _T(214, "2.0.0", "{text}")
# -- 3xx ----------------------------------------------------------------------------
START_DATA = _T(354, None, "Start mail input; end with <CRLF>.<CRLF>")
AUTH_CHALLENGE = _T(334, None, "{data}")
# -- 4xx ----------------------------------------------------------------------------
SERVICE_BUSY = _T(421, "4.3.2", "{host} Too many connections, try again later")
TIMEOUT = _T(421, "4.4.2", "{host} Idle timeout, closing transmission channel")
TOO_MANY_ERRORS = _T(421, "4.7.0", "{host} Too many errors, closing transmission channel")
SHUTTING_DOWN = _T(421, "4.3.2", "{host} Service shutting down, closing transmission channel")
MAILBOX_BUSY = _T(450, "4.2.1", "<{address}>: Mailbox unavailable, try again later")
LOCAL_ERROR = _T(451, "4.3.0", "Local error in processing, try again later")
RECIPIENT_LOCAL_ERROR = _T(451, "4.3.0", "<{address}>: Local error in processing, try again "
                           "later")
RELAY_UNAVAILABLE = _T(451, "4.4.0", "Relay queue unavailable, try again later")
STORAGE_FULL = _T(452, "4.3.1", "Insufficient system storage")
TOO_MANY_RECIPIENTS = _T(452, "4.5.3", "Too many recipients")
CANNOT_ACCOMMODATE = _T(455, "4.5.4", "Server unable to accommodate parameters: {detail}")
# -- 5xx ----------------------------------------------------------------------------
UNRECOGNIZED = _T(500, "5.5.2", "Syntax error, command unrecognized")
LINE_TOO_LONG = _T(500, "5.5.2", "Line too long (limit {limit} octets)")
TEXT_LINE_TOO_LONG = _T(500, "5.5.2", "Message text line too long (limit {limit} octets)")
AUTH_LINE_TOO_LONG = _T(500, "5.5.6", "Authentication exchange line is too long")
BARE_EOL_COMMAND = _T(500, "5.5.2", "Bare CR or LF in command line; use CRLF")
SYNTAX = _T(501, "5.5.4", "Syntax error in parameters or arguments: {detail}")
BAD_ADDRESS = _T(501, "5.1.3", "Bad address syntax: {detail}")
PATH_TOO_LONG = _T(501, "5.1.3", "Path too long")
BAD_BASE64 = _T(501, "5.5.2", "Cannot decode the response as base64")
AUTH_MALFORMED = _T(501, "5.5.2", "Malformed authentication response")
AUTH_CANCELLED = _T(501, "5.0.0", "Authentication cancelled")
NOT_IMPLEMENTED = _T(502, "5.5.1", "Command not implemented")
EXPN_DISABLED = _T(502, "5.5.1", "EXPN command is disabled")
BAD_SEQUENCE = _T(503, "5.5.1", "Bad sequence of commands: {detail}")
PARAM_NOT_IMPLEMENTED = _T(504, "5.5.4", "Command parameter not implemented: {detail}")
UNKNOWN_MECHANISM = _T(504, "5.5.4", "Unrecognized authentication mechanism")
HELP_UNKNOWN = _T(504, "5.5.4", "No help for that topic")
AUTH_REQUIRED = _T(530, "5.7.0", "Authentication required")
TLS_REQUIRED = _T(530, "5.7.0", "Must issue a STARTTLS command first")
AUTH_FAILED = _T(535, "5.7.8", "Authentication credentials invalid")
ENCRYPTION_REQUIRED = _T(538, "5.7.11", "Encryption required for requested authentication "
                         "mechanism")
USER_UNKNOWN = _T(550, "5.1.1", "<{address}>: Recipient address rejected: User unknown")
NOT_A_LIST = _T(550, "5.1.1", "{address} is not a mailing list")
NO_SUCH_USER = _T(550, "5.1.1", "{address}: no such user or list")
RELAY_DENIED = _T(550, "5.7.1", "<{address}>: Relay access denied")
BARE_EOL_DATA = _T(550, "5.6.0", "Message refused: bare CR or LF in message text; use CRLF")
USER_MOVED = _T(551, "5.1.6", "User not local; please try <{target}>")
MESSAGE_TOO_BIG = _T(552, "5.3.4", "Message size exceeds fixed maximum message size ({limit})")
MAILBOX_NOT_ALLOWED = _T(553, "5.1.3", "Mailbox name not allowed: {detail}")
NON_ASCII_ADDRESS = _T(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter")
AMBIGUOUS = _T(553, "5.1.4", "User ambiguous; possibilities are")  # candidates follow
NO_VALID_RECIPIENTS = _T(554, "5.5.1", "No valid recipients")
# RFC 5321 §3.1/§4.2.3: the connection-opening 554 (a greeting: no enhanced code).
NO_SERVICE = _T(554, None, "{host} No SMTP service here")
TRANSACTION_FAILED = _T(554, "5.5.0", "Transaction failed: {detail}")
PARAM_UNRECOGNIZED = _T(555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized or not "
                        "implemented: {detail}")

# HELP <topic> texts (RFC 5321 §4.1.1.8), sent as HELP_TOPIC replies.
HELP_TOPICS: dict[str, str] = {
    "HELO": "HELO <domain>: identify yourself (RFC 5321 §4.1.1.1)",
    "EHLO": "EHLO <domain>: identify yourself and list extensions (RFC 5321 §4.1.1.1)",
    "MAIL": "MAIL FROM:<reverse-path> [SIZE= BODY= SMTPUTF8 RET= ENVID= AUTH=]",
    "RCPT": "RCPT TO:<forward-path> [NOTIFY= ORCPT=]",
    "DATA": "DATA: send the message, end with <CRLF>.<CRLF>",
    "BDAT": "BDAT <size> [LAST]: send a chunk of the message (RFC 3030)",
    "RSET": "RSET: abort the transaction",
    "NOOP": "NOOP: do nothing",
    "QUIT": "QUIT: end the session",
    "VRFY": "VRFY <user>: verify a user name or mailbox",
    "EXPN": "EXPN <list>: show the members of a mailing list",
    "HELP": "HELP [command]: this text",
    "STARTTLS": "STARTTLS: start TLS (RFC 3207)",
    "AUTH": "AUTH <mechanism> [initial-response] (RFC 4954)",
}

TABLE: dict[str, Template] = {
    name: value for name, value in dict(globals()).items() if isinstance(value, Template)
}
