"""Postfix delivering into the Maildirs that Dovecot serves: a complete third-party mail
system on loopback, the profile the conformance suites and delivery accounting run against."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.peers._ports import LOOPBACK, free_ports
from harness.peers._runtime import Peer
from harness.peers.dovecot import DovecotInstance
from harness.peers.postfix import PostfixInstance


class MailSystem(Peer):
    """Context manager: Postfix (SMTP in) + Dovecot (POP3/IMAP out) on one Maildir root.

    Ports left as None are chosen free. Both run their mail processes as `mail_user`, so
    the files Postfix writes are the files Dovecot may read, move and delete.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        smtp_port: int | None = None,
        pop3_port: int | None = None,
        imap_port: int | None = None,
        local_domain: str = "example.test",
        users: Mapping[str, str] | None = None,
        mail_user: str = "nobody",
    ) -> None:
        base_dir = Path(base_dir)
        chosen = iter(free_ports(3))
        self.smtp_port = smtp_port or next(chosen)
        self.pop3_port = pop3_port or next(chosen)
        self.imap_port = imap_port or next(chosen)
        self.local_domain = local_domain
        self.users = dict(users if users is not None else {"alice": "secret", "bob": "secret"})
        self.host = LOOPBACK
        self.maildir_root = base_dir / "mail"
        self.postfix = PostfixInstance(
            base_dir / "postfix",
            smtp_port=self.smtp_port,
            local_domain=local_domain,
            users=tuple(self.users),
            maildir_root=self.maildir_root,
            mail_user=mail_user,
        )
        self.dovecot = DovecotInstance(
            base_dir / "dovecot",
            pop3_port=self.pop3_port,
            imap_port=self.imap_port,
            users=self.users,
            maildir_root=self.maildir_root,
            mail_user=mail_user,
        )

    @property
    def ports(self) -> dict[str, int]:
        return {**self.postfix.ports, **self.dovecot.ports}

    def pids(self) -> list[int]:
        return [*self.postfix.pids(), *self.dovecot.pids()]

    def maildir(self, user: str) -> Path:
        return self.maildir_root / user / "Maildir"

    def profile_dict(self) -> dict[str, Any]:
        """Where the system listens and who may log in: a profile for `mailharness check
        --profile` (the format of ``harness.target.load_profile``), once written as YAML."""
        return {
            "name": "postfix-dovecot",
            "domain": self.local_domain,
            "endpoints": {
                "smtp": f"smtp://{self.host}:{self.smtp_port}",
                "pop3": f"pop3://{self.host}:{self.pop3_port}",
                "imap": f"imap://{self.host}:{self.imap_port}",
            },
            "users": [{"name": name, "password": password}
                      for name, password in self.users.items()],
        }

    def start(self) -> None:
        # Dovecot first: it is the faster to start, and if it fails Postfix never runs.
        self.dovecot.start()
        try:
            self.postfix.start()
        except BaseException:
            self.dovecot.stop()
            raise

    def stop(self) -> None:
        # Side by side: each waits seconds for its daemons to exit, independently.
        with ThreadPoolExecutor(max_workers=2) as pool:
            stops = [pool.submit(self.postfix.stop), pool.submit(self.dovecot.stop)]
        for stop in stops:
            stop.result()
