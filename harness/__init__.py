"""mailharness: conformance, fuzzing and load testing for Internet mail.

This package never imports :mod:`reference_servers` except in ``harness.cli._embedded``,
where the CLI starts the embedded reference servers (see DESIGN.md).
"""

__version__ = "0.1.0"
