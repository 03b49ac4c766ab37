"""A seeded corpus of realistic messages for the load generator, fuzzers and benchmarks."""

from __future__ import annotations

import bisect
import email.utils
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from .encoded_words import encode_words
from .generate import Entity, render
from .partial import split_partial

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
    "be",
    "this",
    "from",
    "or",
    "have",
    "an",
    "are",
    "not",
    "message",
    "mail",
    "server",
    "client",
    "protocol",
    "header",
    "body",
    "part",
    "boundary",
    "encoding",
    "transfer",
    "delivery",
    "queue",
    "mailbox",
    "folder",
    "account",
    "network",
    "packet",
    "latency",
    "throughput",
    "report",
    "meeting",
    "schedule",
    "invoice",
    "project",
    "budget",
    "review",
    "draft",
    "update",
    "release",
    "version",
    "quarter",
]
_INTL = [
    "Grüße",
    "café",
    "naïve",
    "façade",
    "Ærø",
    "smørbrød",
    "Übersicht",
    "señor",
    "déjà",
    "élève",
    "Straße",
]
_NAMES = [
    "Alice Martin",
    "Bob Stone",
    "Carol Díaz",
    "Dmitri Ivanov",
    "Eve Müller",
    "Frank Li",
    "Grace O'Neil",
    "Heidi Sørensen",
]


@dataclass(frozen=True, slots=True)
class SizeBucket:
    low: int
    high: int
    weight: float


# Most mail is small; a few messages carry large attachments.
DEFAULT_SIZES: tuple[SizeBucket, ...] = (
    SizeBucket(1_024, 4_096, 40),
    SizeBucket(4_096, 16_384, 25),
    SizeBucket(16_384, 65_536, 18),
    SizeBucket(65_536, 262_144, 11),
    SizeBucket(262_144, 1_048_576, 6),
)

DEFAULT_MIX: Mapping[str, float] = {
    "text": 30,
    "html": 5,
    "alternative": 20,
    "mixed": 20,
    "nested": 8,
    "rfc822": 5,
    "digest": 2,
    "parallel": 2,
    "media": 4,
    "partial": 2,
    "external-body": 2,
}


@cache
def _pool(intl: bool) -> tuple[bytes, tuple[int, ...]]:
    """A fixed body of CRLF lines (at most 76 octets) to slice text from quickly."""
    rng = random.Random(2045)
    words = _WORDS + (_INTL if intl else [])
    lines: list[bytes] = []
    for _ in range(6000):
        line: list[str] = []
        width = rng.randint(20, 72)
        while sum(len(w) + 1 for w in line) < width:
            line.append(rng.choice(words))
        lines.append(" ".join(line).encode() + b"\r\n")
    starts = [0]
    for encoded in lines:
        starts.append(starts[-1] + len(encoded))
    return b"".join(lines), tuple(starts)


def text(rng: random.Random, size: int, intl: bool = False) -> bytes:
    """About ``size`` octets of CRLF-terminated lines of words."""
    pool, starts = _pool(intl)
    out: list[bytes] = []
    need = max(size, 1)
    while need > 0:
        i = rng.randrange(len(starts) - 1)
        j = min(bisect.bisect_left(starts, starts[i] + need), len(starts) - 1)
        j = max(j, i + 1)
        out.append(pool[starts[i] : starts[j]])
        need -= starts[j] - starts[i]
    return b"".join(out)


def _html(rng: random.Random, size: int) -> bytes:
    body = text(rng, max(size - 60, 1)).replace(b"\r\n", b"<br>\r\n")
    return b"<html><body>\r\n" + body + b"</body></html>\r\n"


def _address(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    local = name.split()[0].lower()
    shown = encode_words(name, encoding="Q") if not name.isascii() else f'"{name}"'
    return f"{shown} <{local}@example.{rng.choice(['com', 'org', 'net'])}>"


def _headers(rng: random.Random, n: int) -> list[tuple[str, str]]:
    when = 1_600_000_000 + rng.randrange(100_000_000)
    subject = " ".join(rng.choice(_WORDS + _INTL) for _ in range(rng.randint(2, 9)))
    return [
        ("Date", email.utils.formatdate(when)),
        ("From", _address(rng)),
        ("To", ", ".join(_address(rng) for _ in range(rng.randint(1, 3)))),
        ("Subject", subject),
        ("Message-ID", f"<{n}.{rng.getrandbits(48):012x}@corpus.example>"),
    ]


def _attachment(rng: random.Random, size: int) -> Entity:
    ctype, ext = rng.choice(
        [
            ("application/octet-stream", "bin"),
            ("application/pdf", "pdf"),
            ("image/png", "png"),
            ("image/jpeg", "jpg"),
            ("application/postscript", "ps"),
            ("audio/mpeg", "mp3"),
            ("video/mp4", "mp4"),
        ]
    )
    name = rng.choice(["report", "photo", "data", "Übersicht", "résumé"]) + f".{ext}"
    return Entity(
        ctype,
        [("name", name)],
        body=rng.randbytes(max(size * 3 // 4, 1)),
        disposition="attachment",
        disposition_params=[("filename", name)],
    )


def _text_part(rng: random.Random, size: int, subtype: str = "plain") -> Entity:
    if subtype == "html":
        return Entity("text/html", [("charset", "us-ascii")], body=_html(rng, size))
    intl = rng.random() < 0.3
    charset = "utf-8" if intl else "us-ascii"
    return Entity("text/plain", [("charset", charset)], body=text(rng, size, intl))


def _build(kind: str, rng: random.Random, size: int, n: int) -> Entity:
    small = min(size, rng.randint(300, 3000))
    if kind == "text":
        return _text_part(rng, size)
    if kind == "html":
        return _text_part(rng, size, "html")
    if kind == "alternative":
        return Entity(
            "multipart/alternative",
            parts=[_text_part(rng, size // 2), _text_part(rng, size // 2, "html")],
        )
    if kind == "mixed":
        k = rng.randint(1, 3)
        atts = [_attachment(rng, max((size - small) // k, 64)) for _ in range(k)]
        return Entity("multipart/mixed", parts=[_text_part(rng, small), *atts])
    if kind == "nested":
        alt = Entity(
            "multipart/alternative", parts=[_text_part(rng, small), _text_part(rng, small, "html")]
        )
        return Entity("multipart/mixed", parts=[alt, _attachment(rng, max(size - 2 * small, 64))])
    if kind == "rfc822":
        inner = Entity(
            "multipart/mixed",
            headers=_headers(rng, n),
            parts=[_text_part(rng, small), _attachment(rng, max(size - small, 64))],
        )
        return Entity(
            "multipart/mixed", parts=[_text_part(rng, 200), Entity("message/rfc822", message=inner)]
        )
    if kind == "digest":
        k = rng.randint(2, 5)
        msgs = [
            Entity(
                "message/rfc822",
                message=Entity(headers=_headers(rng, n), body=text(rng, size // k)),
            )
            for _ in range(k)
        ]
        return Entity("multipart/digest", parts=msgs)
    if kind == "parallel":
        return Entity(
            "multipart/parallel",
            parts=[
                Entity("image/gif", body=rng.randbytes(max(size * 3 // 8, 1))),
                Entity("audio/basic", body=rng.randbytes(max(size * 3 // 8, 1))),
            ],
        )
    if kind == "media":
        return _attachment(rng, size)
    if kind == "external-body":
        phantom = b"Content-Type: application/octet-stream\r\nContent-ID: <ext@corpus>\r\n\r\n"
        ext = Entity(
            "message/external-body",
            [
                ("access-type", "anon-ftp"),
                ("site", "ftp.example.org"),
                ("name", "big.tar"),
                ("directory", "pub"),
            ],
            body=phantom,
            cte="7bit",
        )
        return Entity("multipart/mixed", parts=[_text_part(rng, size), ext])
    raise ValueError(f"unknown kind {kind!r}")


def generate_message(kind: str, rng: random.Random, size: int, n: int = 0) -> bytes:
    """One message of the given kind and about ``size`` octets."""
    if kind == "partial":
        whole = render(Entity(headers=_headers(rng, n), body=text(rng, size * 2)))
        return split_partial(whole, size, f"{n}.{rng.getrandbits(32):08x}@corpus.example")[0]
    entity = _build(kind, rng, size, n)
    entity.headers = _headers(rng, n) + entity.headers
    return render(entity)


def _size(rng: random.Random, sizes: Sequence[SizeBucket]) -> int:
    bucket = rng.choices(sizes, weights=[b.weight for b in sizes])[0]
    # Log-uniform inside a bucket: as many 1-2 KB messages as 2-4 KB ones.
    return int(bucket.low * (bucket.high / bucket.low) ** rng.random())


def generate_corpus(
    count: int,
    seed: int,
    sizes: Sequence[SizeBucket] = DEFAULT_SIZES,
    mix: Mapping[str, float] = DEFAULT_MIX,
) -> Iterator[bytes]:
    """``count`` messages, the same for the same arguments. ``sizes`` weighs size ranges
    (sizes are approximate: within a few hundred octets plus encoding overhead);
    ``mix`` weighs the kinds of :data:`DEFAULT_MIX`."""
    rng = random.Random(seed)
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    for n in range(count):
        kind = rng.choices(kinds, weights=weights)[0]
        yield generate_message(kind, rng, _size(rng, sizes), n)
