"""A private Dovecot (POP3 + IMAP) on loopback, serving <maildir_root>/<user>/Maildir with
passwd-file users. Its own base_dir, state_dir and log: never the system's /etc/dovecot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
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
    terminate,
    user_ids,
)

DOVECOT = "/usr/sbin/dovecot"


def available() -> str | None:
    """None when Dovecot with POP3 and IMAP can run here, else why not (for pytest.skip)."""
    if not Path(DOVECOT).exists():
        return "Dovecot is not installed (Debian package dovecot-core)"
    libexec = Path("/usr/lib/dovecot")
    for binary, package in (("pop3", "dovecot-pop3d"), ("imap", "dovecot-imapd")):
        if not (libexec / binary).exists():
            return f"Dovecot's {binary} server is not installed (Debian package {package})"
    return None


def dovecot_version() -> tuple[int, int]:
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"(\d+)\.(\d+)", out.stdout)
    if not match:
        raise RuntimeError(f"cannot parse `dovecot --version`: {out.stdout!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class DovecotSettings:
    pop3_port: int
    imap_port: int
    users: Mapping[str, str]
    base_dir: Path
    maildir_root: Path
    mail_uid: int
    mail_gid: int
    extra_config: str

    @property
    def config_path(self) -> Path:
        return self.base_dir / "dovecot.conf"

    @property
    def passwd_path(self) -> Path:
        return self.base_dir / "users"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def state_dir(self) -> Path:
        return self.base_dir / "state"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "dovecot.log"


def instance_name(base_dir: Path) -> str:
    # Shown in every process title (dovecot-<name>/imap-login): say whose it is.
    return f"mailharness-{base_dir.parent.name}-{base_dir.name}"


def render_config_23(s: DovecotSettings) -> str:
    """Dovecot 2.3 syntax (Debian 12). 2.4 renamed most of these settings."""
    return f"""\
# Private mailharness instance; generated, do not edit.
instance_name = {instance_name(s.base_dir)}
protocols = pop3 imap
listen = {LOOPBACK}
base_dir = {s.run_dir}
state_dir = {s.state_dir}
log_path = {s.log_path}
info_log_path = {s.log_path}
ssl = no
disable_plaintext_auth = no
# PLAIN passwords in the passdb are what lets APOP and CRAM-MD5 work as well.
auth_mechanisms = plain login cram-md5 apop
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {min(s.mail_uid, 500)}
first_valid_gid = {min(s.mail_gid, 500)}
mail_uid = {s.mail_uid}
mail_gid = {s.mail_gid}
mail_location = maildir:{s.maildir_root}/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {s.passwd_path}
}}
userdb {{
  driver = static
  args = home={s.maildir_root}/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {LOOPBACK}
    port = {s.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {s.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{s.extra_config}
"""


def render_config_24(s: DovecotSettings) -> str:
    """Dovecot 2.4 syntax (Debian 13). Written from the 2.4 documentation; this machine has
    2.3, so this variant is not exercised by the tests here."""
    return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
instance_name = {instance_name(s.base_dir)}
protocols = pop3 imap
listen = {LOOPBACK}
base_dir = {s.run_dir}
state_dir = {s.state_dir}
log_path = {s.log_path}
info_log_path = {s.log_path}
ssl = no
auth_allow_cleartext = yes
# APOP is left out: 2.4's release notes drop it, and an unknown mechanism is fatal.
auth_mechanisms = plain login cram-md5
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {min(s.mail_uid, 500)}
first_valid_gid = {min(s.mail_gid, 500)}
mail_uid = {s.mail_uid}
mail_gid = {s.mail_gid}
mail_driver = maildir
mail_path = {s.maildir_root}/%{{user}}/Maildir
mail_home = {s.maildir_root}/%{{user}}
passdb passwd-file {{
  passwd_file_path = {s.passwd_path}
}}
userdb static {{
}}
service pop3-login {{
  inet_listener pop3 {{
    listen = {LOOPBACK}
    port = {s.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    listen = {LOOPBACK}
    port = {s.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{s.extra_config}
"""


def render_passwd(users: Mapping[str, str]) -> str:
    for name, password in users.items():
        if ":" in name or ":" in password or "\n" in name + password:
            raise ValueError(f"user {name!r}: ':' and newlines cannot appear in a passwd-file")
    return "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in users.items())


class DovecotInstance(Peer):
    """Context manager: a private Dovecot with POP3 and IMAP on 127.0.0.1.

    Runs `dovecot -F -c FILE` as our child (foreground, so its PID is ours to stop).
    base_dir must be traversable by the dovecot, dovenull and mail users, and short
    (Unix socket paths live under it): see private_base_dir().
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        pop3_port: int,
        imap_port: int,
        users: Mapping[str, str] | None = None,
        maildir_root: Path | None = None,
        mail_user: str = "nobody",
        extra_config: str = "",
        start_timeout: float = 20.0,
    ) -> None:
        base_dir = Path(base_dir).resolve()
        uid, gid = user_ids(mail_user)
        self.settings = DovecotSettings(
            pop3_port=pop3_port,
            imap_port=imap_port,
            users=dict(users if users is not None else {"alice": "secret", "bob": "secret"}),
            base_dir=base_dir,
            maildir_root=Path(maildir_root).resolve() if maildir_root else base_dir / "mail",
            mail_uid=uid,
            mail_gid=gid,
            extra_config=extra_config,
        )
        self.host = LOOPBACK
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def ports(self) -> dict[str, int]:
        return {"pop3": self.settings.pop3_port, "imap": self.settings.imap_port}

    @property
    def pop3_port(self) -> int:
        return self.settings.pop3_port

    @property
    def imap_port(self) -> int:
        return self.settings.imap_port

    @property
    def users(self) -> dict[str, str]:
        return dict(self.settings.users)

    @property
    def maildir_root(self) -> Path:
        return self.settings.maildir_root

    @property
    def log_path(self) -> Path:
        return self.settings.log_path

    def maildir(self, user: str) -> Path:
        return self.settings.maildir_root / user / "Maildir"

    def deliver(self, user: str, message: bytes, *, seen: bool = False) -> Path:
        """Put a message straight into a user's Maildir (cur/ when seen, else new/)."""
        s = self.settings
        path = _maildir.deliver_durably(
            self.maildir(user), message, "cur" if seen else "new", ":2,S" if seen else ""
        )
        os.chown(path, s.mail_uid, s.mail_gid)
        return path

    def pids(self) -> list[int]:
        """The master and every process it runs (login, pop3, imap, auth, ...)."""
        return descendants(self.pid) if self.pid else []

    def start(self) -> None:
        reason = available()
        if reason:
            raise PeerStartError("Dovecot", reason)
        s = self.settings
        ensure_traversable(s.base_dir)
        ensure_traversable(s.maildir_root)
        began = time.monotonic()
        self._write_files()
        self._proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(s.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C aimed at pytest must not race our orderly stop.
            start_new_session=True,
        )
        proc = self._proc
        deadline = began + self.start_timeout
        try:
            for port, greeting in ((s.pop3_port, b"+OK"), (s.imap_port, b"* OK")):
                wait_for_greeting(
                    self.host,
                    port,
                    greeting,
                    deadline=deadline,
                    alive=lambda: proc.poll() is None,
                    owners=self.pids,
                )
        except (TimeoutError, ChildProcessError, OSError) as exc:
            output = self._collect_output()
            self.stop()
            tail = log_tail(s.log_path)
            if output:
                tail = f"[dovecot stdout/stderr]\n{output}\n{tail}"
            raise PeerStartError("Dovecot", str(exc), tail) from exc
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the master (it stops its children), wait, then SIGKILL what is left."""
        proc = self._proc
        if proc is None:
            return
        family = descendants(proc.pid)
        terminate(proc, timeout)
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in family[1:]) and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_remaining([p for p in family[1:] if pid_alive(p)])
        if proc.stdout:
            proc.stdout.close()
        self._proc = None

    def _collect_output(self) -> str:
        proc = self._proc
        if proc is None or proc.stdout is None or proc.poll() is None:
            return ""
        return proc.stdout.read().decode(errors="replace")[-4000:]

    def _write_files(self) -> None:
        s = self.settings
        s.base_dir.mkdir(parents=True, exist_ok=True)
        s.maildir_root.mkdir(parents=True, exist_ok=True)
        shutil.chown(s.maildir_root, s.mail_uid, s.mail_gid)
        for user in s.users:
            home = s.maildir_root / user
            home.mkdir(exist_ok=True)
            shutil.chown(home, s.mail_uid, s.mail_gid)
            _maildir.make_maildir(self.maildir(user), s.mail_uid, s.mail_gid)
        render = render_config_24 if dovecot_version() >= (2, 4) else render_config_23
        s.config_path.write_text(render(s))
        s.config_path.chmod(0o644)
        # Read by the auth process, which runs as the dovecot user: root-owned, 0640
        # with the dovecot group, so other local users don't see the test passwords.
        s.passwd_path.write_text(render_passwd(s.users))
        s.passwd_path.chmod(0o640)
        shutil.chown(s.passwd_path, "root", "dovecot")
