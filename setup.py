"""The optional C extension of the transport's sender: ``hubbub.transport.native._fanout``.

Everything else about the package is in pyproject.toml. The extension links the system libsrtp 2
(Debian ``libsrtp2-dev``) and, when its headers are there, OpenSSL's libcrypto (``libssl-dev``)
for AES-128-GCM; it is tried with OpenSSL first, then with libsrtp alone. It is optional: without
a compiler or the headers the package installs all the same and sends media in pure Python
(``hubbub.transport.native.load`` says why).
"""

from __future__ import annotations

from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FANOUT = "hubbub.transport.native._fanout"
CFLAGS = ["-O2", "-fvisibility=hidden", "-Wall"]


class BuildNative(build_ext):
    """Builds the fan-out with OpenSSL's AES-GCM when it can, else with libsrtp alone."""

    def build_extension(self, ext: Any) -> None:
        if ext.name != FANOUT:
            super().build_extension(ext)
            return
        try:
            ext.define_macros = [("HUBBUB_WITH_OPENSSL", "1")]
            ext.libraries = ["srtp2", "crypto"]
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError: try without OpenSSL
            self.warn(f"{FANOUT}: building without OpenSSL's AES-GCM ({exc})")
            ext.define_macros = []
            ext.libraries = ["srtp2"]
            super().build_extension(ext)


setup(
    ext_modules=[
        Extension(
            FANOUT,
            sources=["src/hubbub/transport/native/fanout.c"],
            libraries=["srtp2"],
            extra_compile_args=CFLAGS,
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildNative},
)
