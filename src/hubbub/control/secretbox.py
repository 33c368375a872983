"""Encryption at rest for secrets the server must read back (App Certificates).

The key is ``settings.secret_key`` when given, else a random key generated once into
``<data_dir>/secret.key`` (mode 0600). Losing that file makes stored certificates unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key_material: str) -> None:
        digest = hashlib.sha256(b"hubbub-secretbox-v1:" + key_material.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    @classmethod
    def from_settings(cls, secret_key: str, data_dir: Path) -> SecretBox:
        if secret_key:
            return cls(secret_key)
        path = data_dir / "secret.key"
        if path.exists():
            return cls(path.read_text(encoding="ascii").strip())
        data_dir.mkdir(parents=True, exist_ok=True)
        material = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(material + "\n")
        return cls(material)

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise RuntimeError("stored secret cannot be decrypted: was the server's secret key changed?") from None
