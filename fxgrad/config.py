"""Global flags with scoped, thread-local overrides.

`config` is the single `Config` object. Read a flag as an attribute or with `read`, set
it process-wide with `update`, and change it for a block of code with `override`:

    >>> from fxgrad.config import config
    >>> config.default_float
    'float64'
    >>> with config.override(default_float="float32"):
    ...     config.default_float
    'float32'

Resolution order: the innermost active `override` of the current thread, then the value
set by `update`, then the `FXGRAD_<FLAG>` environment variable read at import
(`FXGRAD_DEFAULT_FLOAT=float32`, `FXGRAD_DEBUG_NANS=1`), then the built-in default.
Overrides are thread-local (as JAX's context managers are), so a `with` block in one
thread does not change what another thread sees; `update` changes every thread.

JAX spellings (`jax_enable_x64`, `jax_debug_nans`, `jax_debug_infs`, `jax_log_compiles`,
`jax_enable_checks`, `jax_disable_jit`) are aliases of ours. `enable_x64` exists only so
JAX code runs: fxgrad always has 64-bit types (float64 is the NumPy default), so the flag
reads `True` and setting it is a no-op. Use `default_float="float32"` for 32-bit defaults instead.

Flags that change what tracing produces are part of `jit`'s cache key, as the small int
`trace_token()`: equal values give equal tokens, and with no override active it is a
precomputed attribute read, so a cached `jit` call does not rebuild a tuple of flags.
Flags that only change where output goes or where files live (`log_compiles`,
`cache_dir`, `disk_cache`) are not in the key: turning `log_compiles` on does not
retrace anything.
"""

from __future__ import annotations

import os
import pathlib
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from fxgrad.errors import FlagValueError, UnknownFlagError

__all__ = ["Config", "config", "resolve_cache_dir"]

_TRUE_STRINGS = frozenset({"1", "true", "yes", "on"})
_FALSE_STRINGS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class _Flag:
    """One flag: its default, how to validate a value, and how to parse it from the env."""

    name: str
    default: Any
    validate: Callable[[str, Any], Any]
    from_env: Callable[[str, str], Any]
    help: str
    #: whether the value can change what tracing produces (and so keys jit's cache)
    traced: bool = True


def _validate_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise FlagValueError(
        f"config flag {name!r} must be True or False, got {value!r} of type {type(value).__name__}."
    )


def _bool_from_env(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE_STRINGS:
        return True
    if lowered in _FALSE_STRINGS:
        return False
    raise FlagValueError(
        f"environment variable {_env_var(name)}={text!r} is not a boolean; "
        f"use one of {sorted(_TRUE_STRINGS)} or {sorted(_FALSE_STRINGS)}."
    )


def _dtype_name_validator(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    """Accepts a dtype name, NumPy type or dtype among `choices`; stores the name."""

    def validate(name: str, value: Any) -> str:
        dtype_name = None
        if value is not None:
            try:
                dtype_name = np.dtype(value).name
            except TypeError:
                pass
        if dtype_name in choices:
            return dtype_name
        raise FlagValueError(f"config flag {name!r} must be one of {choices}, got {value!r}.")

    return validate


def _text_from_env(name: str, text: str) -> str:
    return text.strip()


def _validate_cache_dir(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        path = os.path.expanduser(os.fspath(value))
        if path:
            return path
    raise FlagValueError(f"config flag {name!r} must be None or a non-empty path, got {value!r}.")


def _cache_dir_from_env(name: str, text: str) -> str | None:
    return text or None


def _validate_enable_x64(name: str, value: Any) -> bool:
    _validate_bool(name, value)
    return True  # fxgrad always has 64-bit types; see the module docstring.


_FLAGS: tuple[_Flag, ...] = (
    _Flag(
        "default_float",
        "float64",
        _dtype_name_validator(("float64", "float32")),
        _text_from_env,
        "dtype of Python floats and of float-creating functions ('float64' or 'float32').",
    ),
    _Flag(
        "default_int",
        "int64",
        _dtype_name_validator(("int64", "int32")),
        _text_from_env,
        "dtype of Python ints and of integer-creating functions ('int64' or 'int32').",
    ),
    _Flag(
        "debug_nans",
        False,
        _validate_bool,
        _bool_from_env,
        "raise when an operation produces a NaN, re-running it op by op to find which.",
    ),
    _Flag(
        "debug_infs",
        False,
        _validate_bool,
        _bool_from_env,
        "raise when an operation produces an infinity.",
    ),
    _Flag(
        "enable_checks",
        False,
        _validate_bool,
        _bool_from_env,
        "run internal consistency checks (check_jaxpr after every transformation and pass).",
    ),
    _Flag(
        "log_compiles",
        False,
        _validate_bool,
        _bool_from_env,
        "print why each jit trace happens (the argument that changed) and what it compiles.",
        traced=False,
    ),
    _Flag(
        "cache_dir",
        None,
        _validate_cache_dir,
        _cache_dir_from_env,
        "directory of the on-disk compilation cache (None: the user cache directory).",
        traced=False,
    ),
    _Flag(
        "disk_cache",
        True,
        _validate_bool,
        _bool_from_env,
        "keep compiled kernels on disk under cache_dir (False: compile in memory only).",
        traced=False,
    ),
    _Flag(
        "disable_jit",
        False,
        _validate_bool,
        _bool_from_env,
        "run jit-decorated functions eagerly, op by op, without tracing (for debugging).",
    ),
    _Flag(
        "jax_compatible_where_grad",
        False,
        _validate_bool,
        _bool_from_env,
        "gradients through where/select/cond follow JAX and may be NaN in the untaken branch.",
    ),
    _Flag(
        "eager_vjp_tape",
        True,
        _validate_bool,
        _bool_from_env,
        "eager vjp/grad record a tape of pullbacks (False: linearize and transpose, as traced).",
        traced=False,
    ),
    _Flag(
        "enable_x64",
        True,
        _validate_enable_x64,
        _bool_from_env,
        "accepted for JAX compatibility; always True (setting it is a no-op).",
    ),
)

_ALIASES: dict[str, str] = {
    "jax_enable_x64": "enable_x64",
    "jax_debug_nans": "debug_nans",
    "jax_debug_infs": "debug_infs",
    "jax_log_compiles": "log_compiles",
    "jax_enable_checks": "enable_checks",
    "jax_disable_jit": "disable_jit",
}


def _env_var(name: str) -> str:
    return f"FXGRAD_{name.upper()}"


def _value_from_env(flag: _Flag, text: str) -> Any:
    try:
        return flag.validate(flag.name, flag.from_env(flag.name, text))
    except FlagValueError as error:
        if _env_var(flag.name) in error.args[0]:
            raise
        raise FlagValueError(
            f"environment variable {_env_var(flag.name)}={text!r} is invalid: {error.args[0]}"
        ) from None


class Config:
    """The flags of fxgrad. Use the module-level `config`; do not make another.

    Args:
        environ: where `FXGRAD_<FLAG>` defaults are read from (default `os.environ`).

    Raises:
        FlagValueError: an environment variable holds an invalid value.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        flags = {flag.name: flag for flag in _FLAGS}
        values = {}
        for flag in _FLAGS:
            text = environ.get(_env_var(flag.name))
            if text is None:
                values[flag.name] = flag.default
            else:
                values[flag.name] = _value_from_env(flag, text)
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_local", threading.local())
        object.__setattr__(self, "_traced", tuple(f.name for f in _FLAGS if f.traced))
        object.__setattr__(self, "_token_lock", threading.Lock())
        object.__setattr__(self, "_tokens", {})
        object.__setattr__(self, "_token_values", [])
        # how many `override` blocks are open in all threads: while none is, reads skip
        # the thread-local lookup
        object.__setattr__(self, "_active_overrides", 0)
        self._refresh_token()

    @property
    def names(self) -> tuple[str, ...]:
        """The flag names, without the JAX aliases."""
        return tuple(self._flags)

    def read(self, name: str) -> Any:
        """Returns the current value of flag `name` (a JAX alias is accepted).

        Raises:
            UnknownFlagError: there is no such flag.
        """
        if not self._active_overrides and name in self._values:
            return self._values[name]  # fast path: no override active in any thread
        name = self._resolve(name)
        for overrides in reversed(self._override_stack()):
            if name in overrides:
                return overrides[name]
        return self._values[name]

    def update(self, name: str, value: Any) -> None:
        """Sets flag `name` to `value` for the whole process (all threads).

        An active `override` of the same flag still wins inside its `with` block.

        Raises:
            UnknownFlagError: there is no such flag.
            FlagValueError: `value` is not valid for the flag.
        """
        name = self._resolve(name)
        self._values[name] = self._flags[name].validate(name, value)
        self._refresh_token()

    @contextmanager
    def override(self, **flags: Any) -> Iterator[None]:
        """Sets flags for the duration of a `with` block, in the current thread only.

        All values are validated before any takes effect. Blocks nest; leaving one
        restores what was visible before it, also when it exits by an exception.

        Example:
            >>> from fxgrad.config import config
            >>> with config.override(debug_nans=True):
            ...     config.debug_nans
            True
            >>> config.debug_nans
            False
        """
        validated = {}
        for given_name, value in flags.items():
            name = self._resolve(given_name)
            validated[name] = self._flags[name].validate(given_name, value)
        stack = self._override_stack()
        self._count_overrides(+1)  # before the push: readers must not miss it
        stack.append(validated)
        try:
            yield
        finally:
            stack.pop()
            self._count_overrides(-1)

    def snapshot(self) -> tuple[tuple[str, Any], ...]:
        """The current value of every flag as a hashable tuple (for cache keys)."""
        return tuple((name, self.read(name)) for name in self._flags)

    def trace_token(self) -> int:
        """A small int naming the values of the flags that affect tracing, in this thread.

        Equal values give equal tokens (in this process), so it can stand for those flags
        in a cache key; `trace_values` turns it back into the values.
        """
        if not self._active_overrides or not self._local.__dict__.get("stack"):
            return self._global_token  # no override active in this thread
        return self._intern(tuple(self.read(name) for name in self._traced))

    def trace_values(self, token: int) -> dict[str, Any]:
        """The values of the flags that affect tracing that `token` stands for."""
        return dict(zip(self._traced, self._token_values[token], strict=True))

    def help(self, name: str) -> str:
        """A one-line description of flag `name`."""
        return self._flags[self._resolve(name)].help

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for flag names.
        if name.startswith("_"):
            raise AttributeError(name)
        return self.read(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"config flags are set with config.update({name!r}, value) or, for a block "
            f"of code, `with config.override({name}=value):`; not by assignment."
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._flags))

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self.snapshot())
        return f"Config({body})"

    def _resolve(self, name: str) -> str:
        name = _ALIASES.get(name, name)
        if name not in self._flags:
            valid = ", ".join(sorted(self._flags))
            aliases = ", ".join(sorted(_ALIASES))
            raise UnknownFlagError(
                f"fxgrad.config has no flag {name!r}. Valid flags: {valid} "
                f"(JAX aliases: {aliases})."
            )
        return name

    def _intern(self, values: tuple[Any, ...]) -> int:
        token = self._tokens.get(values)
        if token is None:
            with self._token_lock:
                token = self._tokens.get(values)
                if token is None:
                    token = self._tokens[values] = len(self._token_values)
                    self._token_values.append(values)
        return token

    def _count_overrides(self, change: int) -> None:
        with self._token_lock:
            object.__setattr__(self, "_active_overrides", self._active_overrides + change)

    def _refresh_token(self) -> None:
        values = tuple(self._values[name] for name in self._traced)
        object.__setattr__(self, "_global_token", self._intern(values))

    def _override_stack(self) -> list[dict[str, Any]]:
        local = self._local
        if not hasattr(local, "stack"):
            local.stack = []
        return local.stack


def resolve_cache_dir() -> pathlib.Path:
    """The on-disk cache directory: `config.cache_dir`, else the user cache directory.

    `config.cache_dir` starts as `FXGRAD_CACHE_DIR` when that is set and non-empty (read
    at import); `config.update("cache_dir", path)` or an `override` replaces it, and
    `None` selects the user cache directory. The disk cache is turned off with
    `config.update("disk_cache", False)` (or `FXGRAD_DISK_CACHE=0`), not through this path.

    The user cache directory is `$XDG_CACHE_HOME/fxgrad` (default `~/.cache/fxgrad`) on
    Linux, `~/Library/Caches/fxgrad` on macOS and `%LOCALAPPDATA%\\fxgrad\\cache` on
    Windows. The directory is not created here.
    """
    configured = config.read("cache_dir")
    if configured is not None:
        return pathlib.Path(configured)
    home = pathlib.Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return pathlib.Path(base) / "fxgrad" / "cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "fxgrad"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore relative paths.
    base = pathlib.Path(xdg) if os.path.isabs(xdg) else home / ".cache"
    return base / "fxgrad"


config = Config()
