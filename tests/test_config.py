"""fxgrad.config: reads, updates, scoped overrides, aliases, validation, environment."""

import pathlib
import threading

import numpy as np
import pytest

from fxgrad.config import Config, config, resolve_cache_dir
from fxgrad.errors import FlagValueError, FxgradError, UnknownFlagError

DEFAULTS = {
    "default_float": "float64",
    "default_int": "int64",
    "debug_nans": False,
    "debug_infs": False,
    "enable_checks": False,
    "log_compiles": False,
    "cache_dir": None,
    "disk_cache": True,
    "disable_jit": False,
    "jax_compatible_where_grad": False,
    "eager_vjp_tape": True,
    "enable_x64": True,
}


@pytest.fixture
def fresh() -> Config:
    """A Config with built-in defaults, independent of the environment and the suite."""
    return Config(environ={})


def test_defaults(fresh):
    assert set(fresh.names) == set(DEFAULTS)
    for name, value in DEFAULTS.items():
        assert fresh.read(name) == value
        assert getattr(fresh, name) == value


def test_suite_runs_with_checks_enabled():
    assert config.enable_checks is True


def test_update_and_read(fresh):
    fresh.update("default_float", "float32")
    assert fresh.default_float == "float32"
    fresh.update("debug_nans", True)
    assert fresh.read("debug_nans") is True


@pytest.mark.parametrize("value", ["float32", np.float32, np.dtype("float32"), "f4"])
def test_default_float_accepts_dtype_likes_and_stores_the_name(fresh, value):
    fresh.update("default_float", value)
    assert fresh.default_float == "float32"


@pytest.mark.parametrize("value", ["float16", "int32", None, "nonsense", 3])
def test_default_float_rejects(fresh, value):
    with pytest.raises(FlagValueError, match="default_float"):
        fresh.update("default_float", value)
    assert fresh.default_float == "float64"


def test_default_int(fresh):
    fresh.update("default_int", "int32")
    assert fresh.default_int == "int32"
    with pytest.raises(FlagValueError, match="default_int"):
        fresh.update("default_int", "uint8")


@pytest.mark.parametrize("value", ["yes", 1, None, 0.0])
def test_bool_flags_reject_non_bools(fresh, value):
    with pytest.raises(FlagValueError, match="debug_nans.*True or False"):
        fresh.update("debug_nans", value)


def test_numpy_bool_accepted(fresh):
    fresh.update("debug_infs", np.True_)
    assert fresh.debug_infs is True


def test_override_is_scoped_and_nests(fresh):
    with fresh.override(debug_nans=True, default_float="float32"):
        assert fresh.debug_nans is True
        assert fresh.default_float == "float32"
        with fresh.override(default_float="float64"):
            assert fresh.default_float == "float64"
            assert fresh.debug_nans is True
        assert fresh.default_float == "float32"
    assert fresh.debug_nans is False
    assert fresh.default_float == "float64"


def test_override_restores_after_exception(fresh):
    with pytest.raises(RuntimeError, match="inside"):
        with fresh.override(log_compiles=True):
            raise RuntimeError("inside")
    assert fresh.log_compiles is False


def test_override_validates_everything_before_applying(fresh):
    with pytest.raises(FlagValueError):
        with fresh.override(debug_nans=True, default_float="float8"):
            pass
    assert fresh.debug_nans is False
    with pytest.raises(UnknownFlagError):
        with fresh.override(debug_nans=True, no_such_flag=1):
            pass
    assert fresh.debug_nans is False


def test_override_wins_over_update_inside_block(fresh):
    with fresh.override(debug_infs=True):
        fresh.update("debug_infs", False)
        assert fresh.debug_infs is True
    assert fresh.debug_infs is False


def test_override_is_thread_local(fresh):
    seen = {}

    def other_thread():
        seen["value"] = fresh.debug_nans

    with fresh.override(debug_nans=True):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert fresh.debug_nans is True
    assert seen["value"] is False


def test_update_is_seen_by_other_threads(fresh):
    fresh.update("log_compiles", True)
    seen = {}
    thread = threading.Thread(target=lambda: seen.setdefault("v", fresh.log_compiles))
    thread.start()
    thread.join()
    assert seen["v"] is True


@pytest.mark.parametrize(
    "alias, name",
    [
        ("jax_debug_nans", "debug_nans"),
        ("jax_debug_infs", "debug_infs"),
        ("jax_log_compiles", "log_compiles"),
        ("jax_enable_checks", "enable_checks"),
        ("jax_disable_jit", "disable_jit"),
    ],
)
def test_jax_aliases(fresh, alias, name):
    fresh.update(alias, True)
    assert fresh.read(name) is True
    assert getattr(fresh, alias) is True
    with fresh.override(**{alias: False}):
        assert fresh.read(name) is False


@pytest.mark.parametrize("name", ["enable_x64", "jax_enable_x64"])
def test_enable_x64_is_a_noop_that_stays_true(fresh, name):
    fresh.update(name, False)
    assert fresh.read(name) is True
    with fresh.override(**{name: False}):
        assert fresh.enable_x64 is True
    with pytest.raises(FlagValueError):
        fresh.update(name, "no")


def test_unknown_flag_names_itself_and_lists_valid_flags(fresh):
    with pytest.raises(UnknownFlagError, match=r"'debug_nan'.*debug_nans.*default_float"):
        fresh.update("debug_nan", True)
    with pytest.raises(AttributeError, match="no flag 'not_a_flag'"):
        fresh.read("not_a_flag")
    with pytest.raises(UnknownFlagError):
        _ = fresh.not_a_flag
    assert not hasattr(fresh, "not_a_flag")
    assert issubclass(UnknownFlagError, FxgradError)


def test_assignment_is_refused(fresh):
    with pytest.raises(AttributeError, match="config.update"):
        fresh.debug_nans = True
    assert fresh.debug_nans is False


def test_snapshot_is_hashable_and_tracks_overrides(fresh):
    before = fresh.snapshot()
    hash(before)
    with fresh.override(default_float="float32"):
        assert fresh.snapshot() != before
        assert dict(fresh.snapshot())["default_float"] == "float32"
    assert fresh.snapshot() == before


def test_trace_token_names_the_traced_flags(fresh):
    base = fresh.trace_token()
    assert fresh.trace_values(base)["default_float"] == "float64"
    with fresh.override(default_float="float32"):
        inside = fresh.trace_token()
        assert inside != base
        assert fresh.trace_values(inside)["default_float"] == "float32"
        with fresh.override(default_float="float64"):
            assert fresh.trace_token() == base  # equal values, equal token
    assert fresh.trace_token() == base
    fresh.update("debug_nans", True)
    assert fresh.trace_token() != base
    assert fresh.trace_values(fresh.trace_token())["debug_nans"] is True
    fresh.update("debug_nans", False)
    assert fresh.trace_token() == base


@pytest.mark.parametrize(
    "name, value", [("log_compiles", True), ("cache_dir", "/elsewhere"), ("disk_cache", False)]
)
def test_flags_that_do_not_change_tracing_keep_the_token(fresh, name, value):
    base = fresh.trace_token()
    fresh.update(name, value)
    assert fresh.trace_token() == base
    with fresh.override(**{name: value}):
        assert fresh.trace_token() == base
    assert name not in fresh.trace_values(base)


def test_trace_token_is_per_thread(fresh):
    seen = {}
    with fresh.override(default_int="int32"):
        thread = threading.Thread(target=lambda: seen.setdefault("token", fresh.trace_token()))
        thread.start()
        thread.join()
        assert fresh.trace_token() != seen["token"]
    assert fresh.trace_token() == seen["token"]


def test_dir_and_help(fresh):
    assert "debug_nans" in dir(fresh)
    assert "NaN" in fresh.help("jax_debug_nans")
    assert "debug_nans=False" in repr(fresh)


def test_environment_defaults():
    environ = {
        "FXGRAD_DEFAULT_FLOAT": "float32",
        "FXGRAD_DEBUG_NANS": "1",
        "FXGRAD_DEBUG_INFS": " TRUE ",
        "FXGRAD_LOG_COMPILES": "off",
        "FXGRAD_CACHE_DIR": "/tmp/fxgrad-cache",
        "FXGRAD_ENABLE_X64": "0",
        "FXGRAD_DISK_CACHE": "off",
        "UNRELATED": "x",
    }
    cfg = Config(environ=environ)
    assert cfg.default_float == "float32"
    assert cfg.debug_nans is True
    assert cfg.debug_infs is True
    assert cfg.log_compiles is False
    assert cfg.cache_dir == "/tmp/fxgrad-cache"
    assert cfg.enable_x64 is True
    assert cfg.disk_cache is False
    assert cfg.default_int == "int64"


@pytest.mark.parametrize(
    "variable, text",
    [("FXGRAD_DEBUG_NANS", "maybe"), ("FXGRAD_DEFAULT_FLOAT", "float16")],
)
def test_bad_environment_value_names_the_variable(variable, text):
    with pytest.raises(FlagValueError, match=f"{variable}='{text}'"):
        Config(environ={variable: text})


def test_empty_cache_dir_env_means_default():
    assert Config(environ={"FXGRAD_CACHE_DIR": ""}).cache_dir is None


def test_cache_dir_validation_and_resolution(tmp_path):
    with pytest.raises(FlagValueError, match="cache_dir"):
        config.update("cache_dir", 3)
    with config.override(cache_dir=tmp_path):
        assert config.cache_dir == str(tmp_path)
        assert resolve_cache_dir() == tmp_path
    with config.override(cache_dir="~/somewhere"):
        assert resolve_cache_dir() == pathlib.Path.home() / "somewhere"
    with config.override(cache_dir=None):
        default = resolve_cache_dir()
        assert default.is_absolute()
        assert "fxgrad" in default.parts
