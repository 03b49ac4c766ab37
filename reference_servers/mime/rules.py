"""The validator's rules: one table of id, RFC section, severity and summary."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # breaks a MUST (or a required syntax)
    WARNING = "warning"  # obsolete syntax, a SHOULD, or a limit of this implementation


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    rfc: str
    severity: Severity
    summary: str


_E, _W = Severity.ERROR, Severity.WARNING
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("mime-version-missing", "RFC 2045 §4", _E, "MIME message without MIME-Version"),
        Rule("line-too-long", "RFC 5322 §2.1.1", _E, "line longer than 998 octets"),
        Rule("bare-line-ending", "RFC 5322 §2.3", _W, "CR or LF not part of a CRLF"),
        Rule("8bit-in-7bit", "RFC 2045 §2.7", _E, "8-bit octet or NUL under a 7bit encoding"),
        Rule("base64-invalid", "RFC 2045 §6.8", _E, "invalid base64 body"),
        Rule("qp-invalid", "RFC 2045 §6.7", _E, "invalid quoted-printable body"),
        Rule("cte-unknown", "RFC 2045 §6.4", _E, "unknown Content-Transfer-Encoding"),
        Rule("cte-not-allowed", "RFC 2045 §6.4", _E, "encoding not allowed for this type"),
        Rule("boundary-missing", "RFC 2046 §5.1.1", _E, "multipart without boundary"),
        Rule("boundary-not-found", "RFC 2046 §5.1.1", _E, "no delimiter line in multipart"),
        Rule("boundary-not-unique", "RFC 2046 §5.1.2", _E, "nested multipart reuses a boundary"),
        Rule("boundary-in-content", "RFC 2046 §5.1.1", _E, "boundary occurs inside content"),
        Rule("boundary-syntax", "RFC 2046 §5.1.1", _E, "boundary is not 1-70 bchars"),
        Rule("multipart-not-closed", "RFC 2046 §5.1.1", _E, "multipart without close delimiter"),
        Rule("content-type-malformed", "RFC 2045 §5.1", _E, "malformed Content-Type"),
        Rule("content-disposition-malformed", "RFC 2183 §2", _E, "malformed Content-Disposition"),
        Rule("encoded-word-malformed", "RFC 2047 §2", _E, "malformed encoded word"),
        Rule("header-syntax", "RFC 5322 §2.2", _E, "line in the header is not a header field"),
        Rule("header-duplicate", "RFC 5322 §3.6", _E, "field that may occur once occurs twice"),
        Rule("date-missing", "RFC 5322 §3.6", _E, "no Date field"),
        Rule("date-malformed", "RFC 5322 §3.3", _E, "malformed Date"),
        Rule("date-obsolete", "RFC 5322 §4.3", _W, "Date in obsolete syntax"),
        Rule("from-missing", "RFC 5322 §3.6", _E, "no From field"),
        Rule("from-malformed", "RFC 5322 §3.6.2", _E, "malformed From"),
        Rule("address-malformed", "RFC 5322 §3.4", _E, "malformed address"),
        Rule("address-obsolete", "RFC 5322 §4.4", _W, "address in obsolete syntax"),
        Rule("nesting-too-deep", "implementation limit", _W, "nesting not parsed further"),
    )
}
