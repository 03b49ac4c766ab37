"""The reference implementations that mailharness validates itself against.

Strict, RFC-cited SMTP, POP3 and IMAP4 servers over one Maildir store, with a MIME
library. This package never imports :mod:`harness` (see DESIGN.md).
"""
