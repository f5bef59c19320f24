"""Master keys: where they come from and how they wrap data keys.

A wrapped blob names the master key that wrapped it (``kid``), so after a rotation
old blobs stay readable until ``keys rotate`` has rewrapped them, and a database
opened with the wrong key fails loudly instead of yielding garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import IntegrityError, KeyUnavailableError

__all__ = [
    "KEY_FILE_NAME",
    "Keyring",
    "MasterKey",
    "generate_master_key",
    "load_keyring",
    "write_key_file",
]

KEY_FILE_NAME = "master.key"
_KID_LEN = 8
_NONCE_LEN = 12
_WRAP_AAD = b"privacy-bot/wrap/v1"


@dataclass(frozen=True)
class MasterKey:
    secret: bytes

    @property
    def kid(self) -> bytes:
        return hashlib.sha256(b"kid:" + self.secret).digest()[:_KID_LEN]

    @property
    def kid_hex(self) -> str:
        return self.kid.hex()

    def encoded(self) -> str:
        return base64.urlsafe_b64encode(self.secret).decode("ascii")

    @classmethod
    def decode(cls, text: str, *, source: str) -> MasterKey:
        try:
            secret = base64.urlsafe_b64decode(text.strip().encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise KeyUnavailableError(f"{source}: the master key is not valid base64") from exc
        if len(secret) != 32:
            raise KeyUnavailableError(
                f"{source}: the master key must be 32 bytes (44 base64 characters), "
                f"got {len(secret)} bytes"
            )
        return cls(secret)


def generate_master_key() -> MasterKey:
    return MasterKey(secrets.token_bytes(32))


class Keyring:
    """The master keys in force, newest (primary) first.

    A keyring read from a key file follows that file: when another process rotates
    the key, this one wraps with the new primary and still unwraps what the new key
    wrapped, without a restart.
    """

    def __init__(self, keys: list[MasterKey], *, source: str, path: Path | None = None) -> None:
        self.source = source
        self._path = path
        self._stamp = _stamp(path)
        self._set(keys)

    def _set(self, keys: list[MasterKey]) -> None:
        if not keys:
            raise KeyUnavailableError(f"{self.source}: no master key")
        self.keys = keys
        self._by_kid = {k.kid: k for k in keys}

    def reload(self) -> None:
        """Re-read the key file now (after this process rewrote it)."""
        if self._path is None:
            raise KeyUnavailableError(f"{self.source}: not a key file, cannot be re-read")
        self._set(_parse_keys(self._path.read_text("ascii"), source=self.source))
        self._stamp = _stamp(self._path)

    def refresh(self) -> None:
        """Re-read the key file if it changed since it was read."""
        if self._path is None:
            return
        stamp = _stamp(self._path)
        if stamp != self._stamp:
            self._set(_parse_keys(self._path.read_text("ascii"), source=self.source))
            self._stamp = stamp

    @property
    def primary(self) -> MasterKey:
        return self.keys[0]

    def wrap(self, plaintext: bytes) -> bytes:
        self.refresh()
        nonce = os.urandom(_NONCE_LEN)
        sealed = AESGCM(self.primary.secret).encrypt(nonce, plaintext, _WRAP_AAD)
        return self.primary.kid + nonce + sealed

    def wrapped_by(self, blob: bytes) -> bytes:
        return blob[:_KID_LEN]

    def unwrap(self, blob: bytes) -> bytes:
        kid, nonce, sealed = (
            blob[:_KID_LEN],
            blob[_KID_LEN : _KID_LEN + _NONCE_LEN],
            blob[_KID_LEN + _NONCE_LEN :],
        )
        if kid not in self._by_kid:
            self.refresh()
        key = self._by_kid.get(kid)
        if key is None:
            raise KeyUnavailableError(
                f"data was wrapped by master key {kid.hex()}, which {self.source} does not hold "
                "(wrong PRIVACY_MASTER_KEY or key file for this database?)"
            )
        try:
            return AESGCM(key.secret).decrypt(nonce, sealed, _WRAP_AAD)
        except InvalidTag as exc:
            raise IntegrityError("a wrapped key does not verify (corrupted)") from exc


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def write_key_file(path: Path, keys: list[MasterKey]) -> None:
    """Write keys atomically with mode 0600, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write("# privacy-bot master keys, newest first. Keep secret; back up separately.\n")
        fh.writelines(f"{k.encoded()}\n" for k in keys)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _parse_keys(text: str, *, source: str) -> list[MasterKey]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    parts = [p for line in lines for p in line.split(",") if p.strip()]
    keys = [MasterKey.decode(p, source=source) for p in parts]
    if not keys:
        raise KeyUnavailableError(f"{source}: holds no master key")
    return keys


def load_keyring(env_value: str | None, data_dir: Path, *, may_create: bool) -> Keyring:
    """The keyring from PRIVACY_MASTER_KEY, else the key file in the data folder.

    A new key file is created only when ``may_create`` (a database that holds no
    encrypted data yet); otherwise a missing key is an error, never a fresh key
    that would silently make every stored field unreadable.
    """
    if env_value:
        source = "PRIVACY_MASTER_KEY"
        return Keyring(_parse_keys(env_value, source=source), source=source)
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        keys = _parse_keys(path.read_text("ascii"), source=str(path))
        return Keyring(keys, source=str(path), path=path)
    if not may_create:
        raise KeyUnavailableError(
            f"no master key: PRIVACY_MASTER_KEY is not set and {path} does not exist, "
            "but the database already holds encrypted data"
        )
    key = generate_master_key()
    write_key_file(path, [key])
    return Keyring([key], source=str(path), path=path)
