"""The MIME library: parse, decode, validate and generate messages, and the IMAP views
(ENVELOPE, BODYSTRUCTURE, BODY[section], BINARY[section]) of RFC 3501/9051 and 3516.

The modules, one job each: :mod:`.parse` (bytes to a tree), :mod:`.headers` (header
blocks), :mod:`.params` (Content-Type/-Disposition, RFC 2231), :mod:`.encoded_words`
(RFC 2047), :mod:`.addresses` (RFC 5322 §3.4), :mod:`.decode` (transfer encodings),
:mod:`.validate` with :mod:`.rules`, :mod:`.generate`, :mod:`.partial` (message/partial),
:mod:`.corpus`, :mod:`.envelope`, :mod:`.bodystructure`, :mod:`.sections`, :mod:`.lint`.

Where this differs from the stdlib :mod:`email` package, and why:

- Byte-faithful: a part is a pair of octet ranges into the original bytes (header block,
  body), never a re-serialisation; IMAP needs ``BODY[1.2.MIME]`` and partial fetches to
  return the octets that were stored. The stdlib decodes to ``str`` and regenerates.
- Lazy: bodies are decoded only when asked (:func:`.decode.decoded_payload`), headers are
  only unfolded; RFC 2047 words are decoded on demand. This is most of why parsing plus
  BODYSTRUCTURE runs many times faster than ``email.message_from_bytes`` with
  ``policy.default`` (see ``benchmarks/mime_bench.py``).
- Only CRLF and LF end lines (RFC 5322 §2.3); the stdlib also splits on a bare CR.
- Quoted-printable decoding deletes trailing white space on encoded lines, as RFC 2045
  §6.7 (3) says it must; ``binascii.a2b_qp`` alone (what the stdlib uses) keeps it.
- Only message/rfc822 and message/global are parsed as encapsulated messages (IMAP's
  body-type-msg, RFC 3501 §9); the stdlib also opens message/delivery-status and
  message/external-body, which IMAP treats as opaque leaves.
- Two delimiter lines in a row enclose an empty part, which is kept (so part numbers
  count every delimiter); the stdlib drops it.
- Defects carry a rule id, RFC section and octet offset so the validator can report a
  part path and a line; nothing here raises on malformed input.

From the stdlib it uses the charset codecs (:mod:`codecs`), :mod:`binascii` for base64
and quoted-printable, and :mod:`email.utils` for obsolete date formats.
"""

from ._model import ContentType, Defect, HeaderField, MessagePart, Param
from .bodystructure import BodyStructure, MultiPart, SinglePart, bodystructure
from .decode import UnknownCTE, decode_body, decoded_payload, text_content
from .envelope import Address, Envelope, envelope
from .parse import parse
from .sections import binary_section, section
from .validate import Violation, validate

__all__ = [
    "Address",
    "BodyStructure",
    "ContentType",
    "Defect",
    "Envelope",
    "HeaderField",
    "MessagePart",
    "MultiPart",
    "Param",
    "SinglePart",
    "UnknownCTE",
    "Violation",
    "binary_section",
    "bodystructure",
    "decode_body",
    "decoded_payload",
    "envelope",
    "parse",
    "section",
    "text_content",
    "validate",
]
