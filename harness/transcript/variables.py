"""Variables: ``$name`` or ``${name}`` in what is sent and in patterns; ``$$`` is a dollar.

Values come from the target profile ($user, $password, $address, $domain, $helo, and
$user2... for further users) and from named groups of patterns: ``(?P<uid1>\\d+)`` sets
$uid1 on its first match. In a pattern a variable stands for its value matched literally
(it is escaped); a ``$`` not followed by a name keeps its regex meaning (end of line).
"""

from __future__ import annotations

import re

_CREDENTIALS = {"user", "password", "address", "sasl_plain", "sasl_user", "sasl_password",
                "cram_md5", "apop"}
_NAME = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*)|(\$))")


class UndefinedVariable(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        if self.name.rstrip("0123456789") in _CREDENTIALS:
            return (f"variable ${self.name} is not defined: the case logs in as the target's "
                    "user; give user:password@ in the target URL or users in the profile")
        return f"variable ${self.name} is not defined (not captured yet, not in the profile)"


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace variables in text to send; ``$$`` becomes ``$``."""

    def replace(found: re.Match[str]) -> str:
        if found.group(3):
            return "$"
        name = found.group(1) or found.group(2)
        if name not in values:
            raise UndefinedVariable(name)
        return values[name]

    return _NAME.sub(replace, text)


def substitute_pattern(pattern: str, values: dict[str, str]) -> str:
    """Replace variables in a regex by their escaped values; ``$$`` stays a regex ``$$``."""

    def replace(found: re.Match[str]) -> str:
        if found.group(3):
            return "$$"
        name = found.group(1) or found.group(2)
        if name not in values:
            raise UndefinedVariable(name)
        return re.escape(values[name])

    return _NAME.sub(replace, pattern)


def compile_pattern(pattern: str, values: dict[str, str]) -> re.Pattern[str]:
    return re.compile(substitute_pattern(pattern, values))


def check_pattern(pattern: str) -> str | None:
    """A problem with a pattern at load time (before variables exist), or None."""
    dummy = _NAME.sub(lambda found: "$$" if found.group(3) else "x", pattern)
    try:
        re.compile(dummy)
    except re.error as exc:
        return f"bad regular expression {pattern!r}: {exc}"
    return None


def capture(found: re.Match[str], values: dict[str, str]) -> None:
    """Named groups that matched set their variable, unless it is already set."""
    for name, value in found.groupdict().items():
        if value is not None and name not in values:
            values[name] = value
