"""IMAP flags <-> Maildir info letters, and the per-folder keyword table.

System flags are uppercase letters (https://cr.yp.to/proto/maildir.html); keywords are the
lowercase letters a-z, mapped through a per-folder table the way Dovecot's
``dovecot-keywords`` does it (ours is ``mailharness-keywords``: lines "<index> <name>").
"""

from __future__ import annotations

from collections.abc import Iterable

from ._errors import StoreError

SYSTEM_TO_LETTER: dict[str, str] = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
LETTER_TO_SYSTEM = {v: k for k, v in SYSTEM_TO_LETTER.items()}
_SYSTEM_BY_LOWER = {k.lower(): k for k in SYSTEM_TO_LETTER}
KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# atom-specials (RFC 3501 §9): "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials
# / resp-specials.
_ATOM_SPECIALS = frozenset('(){ %*"\\]')


class InvalidFlag(StoreError, ValueError):
    """A flag name that is not a system flag and not a valid keyword atom."""


def normalize_flag(flag: str) -> str:
    """Canonical spelling of one flag; raises InvalidFlag."""
    if not isinstance(flag, str) or not flag:
        raise InvalidFlag("empty flag name")
    if flag.startswith("\\"):
        system = _SYSTEM_BY_LOWER.get(flag.lower())
        if system is None:
            # \Recent is session state and can never be stored (RFC 3501 §2.3.2).
            raise InvalidFlag(f"flag {flag!r} cannot be stored")
        return system
    for ch in flag:
        if not 0x21 <= ord(ch) <= 0x7E or ch in _ATOM_SPECIALS:
            raise InvalidFlag(f"keyword {flag!r} is not an IMAP atom (RFC 3501 §9)")
    return flag


def normalize_flags(flags: Iterable[str]) -> frozenset[str]:
    if isinstance(flags, str):
        raise InvalidFlag("flags must be an iterable of flag names, not one string")
    return frozenset(normalize_flag(f) for f in flags)


class KeywordTable:
    """The 26 keyword slots of one folder. Pure: the folder reads and writes the file."""

    def __init__(self, slots: list[str | None] | None = None) -> None:
        self.slots: list[str | None] = list(slots) if slots else [None] * len(KEYWORD_LETTERS)
        self._by_lower = {s.lower(): i for i, s in enumerate(self.slots) if s is not None}

    @classmethod
    def parse(cls, text: str) -> KeywordTable:
        """Parse the file; unreadable lines are skipped (the table is advisory)."""
        slots: list[str | None] = [None] * len(KEYWORD_LETTERS)
        for line in text.splitlines():
            index, _, name = line.partition(" ")
            if not index.isdigit() or not 0 <= int(index) < len(slots):
                continue
            try:
                slots[int(index)] = normalize_flag(name)
            except InvalidFlag:
                continue
        return cls(slots)

    def serialize(self) -> str:
        return "".join(f"{i} {name}\n" for i, name in enumerate(self.slots) if name is not None)

    def letter_of(self, keyword: str) -> str | None:
        index = self._by_lower.get(keyword.lower())
        return None if index is None else KEYWORD_LETTERS[index]

    def name_of(self, letter: str) -> str | None:
        index = KEYWORD_LETTERS.find(letter)
        return None if index < 0 else self.slots[index]

    def missing(self, flags: Iterable[str]) -> list[str]:
        """Keywords among ``flags`` that have no letter yet."""
        return sorted(
            {f for f in flags if not f.startswith("\\") and self.letter_of(f) is None}
        )

    def add(self, keyword: str) -> str:
        """Give ``keyword`` a letter; raises StoreError when all 26 are taken."""
        existing = self.letter_of(keyword)
        if existing is not None:
            return existing
        for index, slot in enumerate(self.slots):
            if slot is None:
                self.slots[index] = keyword
                self._by_lower[keyword.lower()] = index
                return KEYWORD_LETTERS[index]
        raise StoreError(
            "this folder already uses 26 keywords, all that Maildir file names can hold"
        )


def letters_for(flags: frozenset[str], table: KeywordTable, extra: str = "") -> str:
    """The info letters for a flag set; every keyword must already be in ``table``.

    ``extra`` carries letters we do not model (e.g. "P", passed) so that changing flags
    never drops what another program wrote.
    """
    letters = set(extra)
    for flag in flags:
        letter = SYSTEM_TO_LETTER.get(flag) or table.letter_of(flag)
        if letter is None:
            raise StoreError(f"keyword {flag!r} has no letter in the keyword table")
        letters.add(letter)
    return "".join(sorted(letters))


def flags_from_letters(letters: str, table: KeywordTable) -> tuple[frozenset[str], str]:
    """(IMAP flags, letters we keep but do not model) for an info string."""
    flags: set[str] = set()
    extra: list[str] = []
    for letter in letters:
        name = LETTER_TO_SYSTEM.get(letter) or table.name_of(letter)
        if name is not None:
            flags.add(name)
        elif letter not in extra and letter not in KEYWORD_LETTERS:
            extra.append(letter)
    return frozenset(flags), "".join(extra)
