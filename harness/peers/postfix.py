"""A private Postfix on loopback: its own config, queue and data directories under a base
dir, delivering one virtual domain into Maildirs. Never touches /etc/postfix's instance."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.peers import _maildir
from harness.peers._ports import LOOPBACK, wait_for_greeting
from harness.peers._runtime import (
    Peer,
    PeerStartError,
    descendants,
    ensure_traversable,
    kill_remaining,
    log_tail,
    pid_alive,
    user_ids,
)

POSTFIX = "/usr/sbin/postfix"
DAEMON_DIR = Path("/usr/lib/postfix/sbin")
# The package's own file list: post-install reads it to create our queue directories
# with the owners and modes Postfix insists on (postdrop group for maildrop/ and public/).
META_DIR = Path("/etc/postfix")


def available() -> str | None:
    """None when Postfix can run here, else the reason it cannot (for pytest.skip)."""
    if not Path(POSTFIX).exists() or not (DAEMON_DIR / "master").exists():
        return "Postfix is not installed (Debian package postfix)"
    if not (META_DIR / "postfix-files").exists():
        return f"{META_DIR}/postfix-files is missing (Debian package postfix)"
    return None


@dataclass(frozen=True)
class PostfixSettings:
    smtp_port: int
    local_domain: str
    users: tuple[str, ...]
    base_dir: Path
    maildir_root: Path
    mail_uid: int
    mail_gid: int
    process_limit: int
    relay_from_mynetworks: bool
    extra_main_cf: Mapping[str, str]

    @property
    def config_dir(self) -> Path:
        return self.base_dir / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.base_dir / "queue"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "log" / "maillog"


def render_main_cf(s: PostfixSettings) -> str:
    settings: dict[str, str] = {
        "compatibility_level": "3.6",
        "queue_directory": str(s.queue_dir),
        "data_directory": str(s.data_dir),
        "meta_directory": str(META_DIR),
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "inet_interfaces": LOOPBACK,
        "inet_protocols": "ipv4",
        "myhostname": f"mx.{s.local_domain}",
        "mydomain": s.local_domain,
        # Unqualified addresses (VRFY alice) belong to the mail domain, not the host.
        "myorigin": "$mydomain",
        # Nothing is delivered by local(8): only the virtual Maildir domain below.
        "mydestination": "",
        "local_recipient_maps": "",
        "local_transport": "error:5.1.1 local delivery is disabled",
        "alias_maps": "",
        "alias_database": "",
        "relayhost": "",
        "relay_domains": "",
        "mynetworks": "127.0.0.0/8",
        # Like a public MX by default: even loopback may not relay (the conformance
        # suites check relay refusal); relay_from_mynetworks=True opens it to 127/8.
        "smtpd_relay_restrictions": (
            "permit_mynetworks, reject_unauth_destination"
            if s.relay_from_mynetworks
            else "reject_unauth_destination"
        ),
        "smtpd_banner": "$myhostname ESMTP Postfix (mailharness private instance)",
        "virtual_mailbox_domains": s.local_domain,
        "virtual_mailbox_base": str(s.maildir_root),
        "virtual_mailbox_maps": f"texthash:{s.config_dir / 'vmailbox'}",
        # RFC 5321 §4.5.1: every domain MUST accept mail for postmaster.
        "virtual_alias_maps": f"texthash:{s.config_dir / 'valias'}",
        "virtual_uid_maps": f"static:{s.mail_uid}",
        "virtual_gid_maps": f"static:{s.mail_gid}",
        "virtual_minimum_uid": str(min(s.mail_uid, 100)),
        "virtual_mailbox_limit": "0",
        # Loopback only, no resolver: no DNS for clients or next hops.
        "smtp_dns_support_level": "disabled",
        "smtpd_peername_lookup": "no",
        "default_process_limit": str(s.process_limit),
        "smtpd_tls_security_level": "none",
        "smtp_tls_security_level": "none",
        "smtpd_sasl_auth_enable": "no",
        # No syslog daemon is assumed: postlogd writes this file (Postfix >= 3.4).
        "maillog_file": str(s.log_path),
        "maillog_file_prefixes": str(s.base_dir),
        "biff": "no",
        "append_dot_mydomain": "no",
        "readme_directory": "no",
    }
    settings.update(s.extra_main_cf)
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


# chroot is off everywhere ("n"): a chroot would need copies of /etc files inside the
# queue directory, which Debian's init script makes only for the system instance.
MASTER_CF = """\
{host}:{port} inet n - n - - smtpd
pickup     unix  n - n 60  1 pickup
cleanup    unix  n - n -   0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -   - trivial-rewrite
bounce     unix  - - n -   0 bounce
defer      unix  - - n -   0 bounce
trace      unix  - - n -   0 bounce
verify     unix  - - n -   1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -   - proxymap
proxywrite unix  - - n -   1 proxymap
smtp       unix  - - n -   - smtp
relay      unix  - - n -   - smtp
showq      unix  n - n -   - showq
error      unix  - - n -   - error
retry      unix  - - n -   - error
discard    unix  - - n -   - discard
local      unix  - n n -   - local
virtual    unix  - n n -   - virtual
lmtp       unix  - - n -   - lmtp
anvil      unix  - - n -   1 anvil
scache     unix  - - n -   1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def render_master_cf(s: PostfixSettings) -> str:
    return MASTER_CF.format(host=LOOPBACK, port=s.smtp_port)


def render_valias(s: PostfixSettings) -> str:
    """postmaster@domain goes to the first user (RFC 5321 §4.5.1)."""
    users = list(s.users)
    return f"postmaster@{s.local_domain} {users[0]}@{s.local_domain}\n" if users else ""


def render_vmailbox(s: PostfixSettings) -> str:
    # A trailing slash makes virtual(8) deliver in Maildir format; the layout
    # <root>/<user>/Maildir/ is the one DovecotInstance serves.
    return "".join(f"{user}@{s.local_domain} {user}/Maildir/\n" for user in s.users)


class PostfixInstance(Peer):
    """Context manager: a private Postfix listening on 127.0.0.1:smtp_port.

    base_dir must be traversable by the postfix user (see private_base_dir()).
    Mail to <user>@<local_domain> lands in <maildir_root>/<user>/Maildir/new/.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        smtp_port: int,
        local_domain: str = "example.test",
        users: Iterable[str] = ("alice", "bob"),
        maildir_root: Path | None = None,
        mail_user: str = "nobody",
        process_limit: int = 100,
        relay_from_mynetworks: bool = False,
        extra_main_cf: Mapping[str, str] | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        base_dir = Path(base_dir).resolve()
        uid, gid = user_ids(mail_user)
        self.settings = PostfixSettings(
            smtp_port=smtp_port,
            local_domain=local_domain,
            users=tuple(users),
            base_dir=base_dir,
            maildir_root=Path(maildir_root).resolve() if maildir_root else base_dir / "mail",
            mail_uid=uid,
            mail_gid=gid,
            process_limit=process_limit,
            relay_from_mynetworks=relay_from_mynetworks,
            extra_main_cf=dict(extra_main_cf or {}),
        )
        self.host = LOOPBACK
        self.start_timeout = start_timeout
        self.pid: int | None = None
        self.startup_seconds: float | None = None
        self._starting = False  # from `postfix start` until stop(): something may run

    # -- what callers use -------------------------------------------------------------

    @property
    def smtp_port(self) -> int:
        return self.settings.smtp_port

    @property
    def ports(self) -> dict[str, int]:
        return {"smtp": self.settings.smtp_port}

    @property
    def maildir_root(self) -> Path:
        return self.settings.maildir_root

    @property
    def log_path(self) -> Path:
        return self.settings.log_path

    def maildir(self, user: str) -> Path:
        return self.settings.maildir_root / user / "Maildir"

    def messages(self, user: str) -> list[Path]:
        return _maildir.message_files(self.maildir(user))

    def wait_for_messages(self, user: str, count: int, timeout: float = 10.0) -> list[Path]:
        return _maildir.wait_for_messages(self.maildir(user), count, timeout)

    def pids(self) -> list[int]:
        """The master and every daemon it runs right now (smtpd, cleanup, virtual...)."""
        return descendants(self.pid) if self.pid else []

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        reason = available()
        if reason:
            raise PeerStartError("Postfix", reason)
        s = self.settings
        ensure_traversable(s.base_dir)
        ensure_traversable(s.maildir_root)
        began = time.monotonic()
        self._write_files()
        self._starting = True
        try:
            result = self._postfix("start", timeout=self.start_timeout)
            if result.returncode != 0:
                raise PeerStartError(
                    "Postfix",
                    f"postfix start exited {result.returncode}: {result.stdout}",
                    log_tail(s.log_path),
                )
            self.pid = self._read_master_pid()
            wait_for_greeting(
                self.host,
                s.smtp_port,
                b"220",
                deadline=began + self.start_timeout,
                alive=lambda: self.pid is not None and pid_alive(self.pid),
                owners=self.pids,
            )
        except (TimeoutError, ChildProcessError, subprocess.TimeoutExpired, OSError) as exc:
            self.stop()
            raise PeerStartError("Postfix", str(exc), log_tail(s.log_path)) from exc
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the master and its daemons; safe to call twice or after a failed start."""
        if not self._starting:
            return
        self._starting = False
        # After a start that failed before we read the pid file, trust the file only if
        # that pid still is a Postfix master: a stale pid may belong to anybody by now.
        pid = self.pid if self.pid is not None else self._read_master_pid(missing_ok=True)
        if pid is None or not _is_postfix_master(pid):
            self.pid = None
            return
        family = descendants(pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._postfix("stop", timeout=timeout)
        deadline = time.monotonic() + timeout
        while any(pid_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_remaining([p for p in family if pid_alive(p)])
        self.pid = None

    # -- internals --------------------------------------------------------------------

    def _write_files(self) -> None:
        s = self.settings
        for directory in (s.config_dir, s.queue_dir, s.log_path.parent, s.maildir_root):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
        # The queue's subdirectories and the data directory are created by `postfix
        # start` itself (post-install create-missing) with the owners Postfix checks for.
        files = {
            "main.cf": render_main_cf(s),
            "master.cf": render_master_cf(s),
            "vmailbox": render_vmailbox(s),
            "valias": render_valias(s),
        }
        # Postfix re-reads a table whose mtime is this very second (it may still be being
        # written), sleeping 300 ms each time: backdating saves ~2 s of every start.
        past = time.time() - 5
        for name, text in files.items():
            path = s.config_dir / name
            path.write_text(text)
            os.utime(path, (past, past))
        shutil.chown(s.maildir_root, s.mail_uid, s.mail_gid)
        for user in s.users:
            user_dir = s.maildir_root / user
            user_dir.mkdir(exist_ok=True)
            shutil.chown(user_dir, s.mail_uid, s.mail_gid)
            _maildir.make_maildir(self.maildir(user), s.mail_uid, s.mail_gid)

    def _postfix(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.settings.config_dir), command],
            capture_output=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _read_master_pid(self, missing_ok: bool = False) -> int | None:
        path = self.settings.queue_dir / "pid" / "master.pid"
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            if missing_ok:
                return None
            raise


def _is_postfix_master(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv0 = handle.read().split(b"\0", 1)[0]
    except OSError:
        return False
    return argv0 == str(DAEMON_DIR / "master").encode()
