"""The native fan-out helper: ``fanout.c`` built on first use into a per-user cache, then loaded.

``fanout.c`` is a small CPython extension linked against the system libsrtp 2 (Debian
``libsrtp2-dev``) and, when its headers are there, OpenSSL's libcrypto (``libssl-dev``) for
AES-128-GCM; without them it is built with libsrtp alone. It is compiled with the C compiler
(``$CC``, else ``gcc``, else ``cc``) the first time :func:`load` runs and cached under ``$HUBBUB_NATIVE_CACHE`` or
``$XDG_CACHE_HOME/hubbub/native`` (default ``~/.cache/hubbub/native``), keyed by a hash of the
source, the Python ABI and the compiler, so a changed source or interpreter builds afresh and
concurrent builds never see a half-written file (build to a temporary name, then rename).

A CPython extension rather than a cffi/ctypes library: the one call per received packet is a
``METH_FASTCALL`` call with no argument marshalling layer, the helper can keep references to
Python objects (the ICE-TCP send function) and return the list of down-tracks that need the
Python slow path, and nothing beyond the compiler and the headers is needed at run time.

If anything is missing (no compiler, no ``srtp2/srtp.h``, no ``Python.h``, a failed build or
import), :func:`load` logs the reason once and returns None; callers then use the pure-Python
:class:`~hubbub.sfu.forwarder.PythonForwarder`.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["SOURCE", "NativeUnavailable", "build", "cache_dir", "failure", "load", "reset"]

log = logging.getLogger(__name__)

SOURCE: Final = Path(__file__).with_name("fanout.c")
MODULE_NAME: Final = "_hubbub_fanout"
CFLAGS: Final = ("-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall")
BUILD_TIMEOUT: Final = 120.0

_lock = threading.Lock()
_loaded: ModuleType | None = None
_failed: str | None = None


class NativeUnavailable(Exception):
    """The helper cannot be built or loaded here; the message says why."""


def cache_dir() -> Path:
    """Where built helpers are kept (created on demand)."""
    explicit = os.environ.get("HUBBUB_NATIVE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hubbub" / "native"


def _compiler(cc: str | None) -> str:
    """``cc``, else ``$CC``, else gcc, else cc; an explicit choice that is missing is an error."""
    explicit = cc or os.environ.get("CC")
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise NativeUnavailable(f"C compiler {explicit!r} not found")
        return found
    for candidate in ("gcc", "cc"):
        found = shutil.which(candidate)
        if found:
            return found
    raise NativeUnavailable("no C compiler (gcc or cc) on PATH")


# Tried in order: with OpenSSL's libcrypto for AES-128-GCM (much cheaper than Debian libsrtp2's
# NSS backend, see fanout.c), then with libsrtp alone.
VARIANTS: Final = ((("-DHUBBUB_WITH_OPENSSL",), ("-lsrtp2", "-lcrypto")), ((), ("-lsrtp2",)))


def build(*, cc: str | None = None, directory: Path | None = None, source: Path = SOURCE) -> Path:
    """Compile the helper if the cache does not hold it yet; its path. Raises NativeUnavailable."""
    compiler = _compiler(cc)
    try:
        code = source.read_bytes()
    except OSError as exc:
        raise NativeUnavailable(f"cannot read {source}: {exc}") from None
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise NativeUnavailable(f"Python.h not found in {include} (install python3-dev)")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    directory = directory or cache_dir()
    plans = []
    for defines, libs in VARIANTS:
        digest = hashlib.sha256()
        for part in (
            code,
            sys.version.encode(),
            suffix.encode(),
            compiler.encode(),
            " ".join(CFLAGS + defines + libs).encode(),
        ):
            digest.update(part)
            digest.update(b"\0")
        target = directory / f"{MODULE_NAME}-{digest.hexdigest()[:16]}{suffix}"
        if target.exists():
            return target
        plans.append((defines, libs, target))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NativeUnavailable(f"cannot create the cache directory {directory}: {exc}") from None
    error = NativeUnavailable("nothing to build")
    for defines, libs, target in plans:
        try:
            _compile([compiler, *CFLAGS, *defines, f"-I{include}", str(source)], libs, target)
            return target
        except NativeUnavailable as exc:
            error = exc
    raise error


def _compile(cmd: list[str], libs: tuple[str, ...], target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{MODULE_NAME}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            [*cmd, "-o", tmp, *libs], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            hint = " (install libsrtp2-dev)" if "srtp2/srtp.h" in proc.stderr or "-lsrtp2" in proc.stderr else ""
            raise NativeUnavailable(f"build failed{hint}: {detail[0] if detail else proc.returncode}")
        os.replace(tmp, target)
    except (OSError, subprocess.SubprocessError) as exc:
        raise NativeUnavailable(f"build failed: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _import(path: Path) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, str(path))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path, loader=loader)
    if spec is None:
        raise NativeUnavailable(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load(*, cc: str | None = None, directory: Path | None = None, source: Path = SOURCE) -> ModuleType | None:
    """The helper module, built if needed; None (logged once) when it cannot be had here."""
    global _loaded, _failed
    with _lock:
        if _loaded is not None:
            return _loaded
        if _failed is not None:
            return None
        try:
            module = _import(build(cc=cc, directory=directory, source=source))
        except NativeUnavailable as exc:
            _failed = str(exc)
        except ImportError as exc:  # e.g. libsrtp2.so missing at run time
            _failed = f"import failed: {exc}"
        if _failed is not None:
            log.warning("native fan-out unavailable, using the Python forwarder: %s", _failed)
            return None
        log.info("native fan-out loaded (%s, AES-GCM by %s)", module.libsrtp_version(), module.aead_backend())
        _loaded = module
        return module


def reset() -> None:
    """Forget a cached failure (tests); a module already imported stays loaded."""
    global _failed
    with _lock:
        _failed = None


def failure() -> str | None:
    """Why :func:`load` returned None, if it did."""
    return _failed
