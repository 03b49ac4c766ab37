"""Hypothesis strategies for the MIME tests: entity trees the generator can render."""

from __future__ import annotations

from hypothesis import strategies as st

from reference_servers.mime.generate import Entity

_WORD_CHARS = st.characters(
    codec="utf-8", categories=("Lu", "Ll", "Nd", "Zs", "Po"), exclude_characters="\x85"
)
words = st.text(_WORD_CHARS, min_size=1, max_size=30).map(str.strip).filter(bool)
ascii_words = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='=?"\\'),
    min_size=1,
    max_size=20,
)


@st.composite
def text_bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.text(_WORD_CHARS, max_size=120), max_size=8))
    return "".join(line + "\r\n" for line in lines).encode("utf-8")


@st.composite
def leaves(draw: st.DrawFn) -> Entity:
    kind = draw(
        st.sampled_from(
            [
                "text/plain",
                "text/html",
                "application/octet-stream",
                "image/png",
                "audio/basic",
                "video/mpeg",
                "application/postscript",
            ]
        )
    )
    if kind.startswith("text/"):
        body = draw(text_bodies())
        cte = draw(st.sampled_from([None, None, "quoted-printable", "base64"]))
        params = [("charset", "utf-8")]
    else:
        body = draw(st.binary(max_size=400))
        cte = draw(st.sampled_from(["base64", "base64", "quoted-printable"]))
        params = []
    entity = Entity(kind, params, body=body, cte=cte)
    if draw(st.booleans()):
        name = draw(words) + ".dat"
        entity.disposition = draw(st.sampled_from(["attachment", "inline"]))
        entity.disposition_params = [("filename", name)]
    return entity


def _extend(children: st.SearchStrategy[Entity]) -> st.SearchStrategy[Entity]:
    multipart = st.builds(
        lambda sub, parts, pre, epi: Entity(
            f"multipart/{sub}", parts=parts, preamble=pre, epilogue=epi
        ),
        st.sampled_from(["mixed", "alternative", "parallel", "related"]),
        st.lists(children, min_size=1, max_size=4),
        st.sampled_from([None, b"", b"This is a MIME message.\r\n"]),
        st.sampled_from([b"", b"epilogue\r\n"]),
    )
    message = st.builds(
        lambda subject, inner: Entity(
            "message/rfc822",
            message=Entity(
                inner.content_type,
                inner.params,
                [("Subject", subject), *inner.headers],
                inner.body,
                inner.cte,
                inner.parts,
                inner.message,
                inner.boundary,
                inner.preamble,
                inner.epilogue,
                inner.disposition,
                inner.disposition_params,
            ),
        ),
        words,
        children,
    )
    return st.one_of(multipart, message)


entities = st.recursive(leaves(), _extend, max_leaves=8)


@st.composite
def messages(draw: st.DrawFn) -> Entity:
    top = draw(entities)
    top.headers = [
        ("From", f"{draw(ascii_words)} <user@example.com>"),
        ("Subject", draw(words)),
        *top.headers,
    ]
    return top
