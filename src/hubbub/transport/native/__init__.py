"""The native half of the sender: ``fanout.c``, built when the package is installed.

``fanout.c`` is a small CPython extension, ``hubbub.transport.native._fanout``, linked against
the system libsrtp 2 (Debian ``libsrtp2-dev``) and, when its headers are there, OpenSSL's
libcrypto (``libssl-dev``) for AES-128-GCM. ``setup.py`` declares it as an optional setuptools
extension: ``pip install .`` (or ``pip install -e .``, which puts it next to this file) compiles
it when a C compiler, ``Python.h`` and the libsrtp headers are there, and installs the package
without it otherwise. Nothing is compiled at import or run time: after installing the headers,
reinstall the package (``scripts/bootstrap.sh`` does it when the extension is missing).

A CPython extension rather than a cffi/ctypes library: the one call per received packet is a
``METH_FASTCALL`` call with no argument marshalling layer, the helper can keep references to
Python objects (the ICE-TCP send function) and return the list of down-tracks that need the
Python slow path.

If the extension is missing or cannot be imported (e.g. libsrtp2.so gone), :func:`load` logs the
reason once and returns None; the transport then sends with :class:`~hubbub.transport.sender.
PythonSender` and the SFU forwards with its pure-Python forwarder.
"""

from __future__ import annotations

import importlib
import logging
import threading
from types import ModuleType
from typing import Final

__all__ = ["MODULE", "failure", "load", "reset"]

log = logging.getLogger(__name__)

MODULE: Final = "hubbub.transport.native._fanout"

_lock = threading.Lock()
_loaded: ModuleType | None = None
_failed: str | None = None


def load(*, module: str = MODULE) -> ModuleType | None:
    """The extension module; None (logged once) when it was not built or cannot be imported here."""
    global _loaded, _failed
    with _lock:
        if _loaded is not None:
            return _loaded
        if _failed is not None:
            return None
        try:
            lib = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            _failed = "not built (install gcc, python3-dev, libsrtp2-dev and libssl-dev, then reinstall the package)"
        except ImportError as exc:  # e.g. libsrtp2.so missing at run time
            _failed = f"import failed: {exc}"
        if _failed is not None:
            log.warning("native fan-out unavailable, sending media in pure Python: %s", _failed)
            return None
        log.info("native fan-out loaded (%s, AES-GCM by %s)", lib.libsrtp_version(), lib.aead_backend())
        _loaded = lib
        return lib


def reset() -> None:
    """Forget a cached failure (tests); a module already imported stays loaded."""
    global _failed
    with _lock:
        _failed = None


def failure() -> str | None:
    """Why :func:`load` returned None, if it did."""
    return _failed
