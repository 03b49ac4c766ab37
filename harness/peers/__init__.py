"""Real third-party mail servers, started privately on loopback for interop tests and
benchmarks: Postfix, Dovecot, Postfix's smtp-sink/smtp-source, and an aiosmtpd peer.

Every peer is a context manager that waits until its ports greet, raises PeerStartError
with its log tail when it cannot start, and always stops what it started. None of them
reads or changes the system's own Postfix or Dovecot configuration or instance.

This package must not import reference_servers (see DESIGN.md): it is the other side.
"""

from harness.peers._ports import free_port, free_ports
from harness.peers._runtime import PeerStartError, private_base_dir
from harness.peers.aiosmtpd_peer import AiosmtpdPeer
from harness.peers.dovecot import DovecotInstance
from harness.peers.mail_system import MailSystem
from harness.peers.postfix import PostfixInstance
from harness.peers.smtp_tools import SinkProcess, SourceResult, smtp_sink, smtp_source

__all__ = [
    "AiosmtpdPeer",
    "DovecotInstance",
    "MailSystem",
    "PeerStartError",
    "PostfixInstance",
    "SinkProcess",
    "SourceResult",
    "free_port",
    "free_ports",
    "private_base_dir",
    "smtp_sink",
    "smtp_source",
]
