"""fxgrad.errors: builtin bases, the docs link, and docs/errors.md covering every class."""

import pathlib
import pickle
import re

import pytest

from fxgrad import errors

DOCS_ERRORS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "errors.md"

ERROR_CLASSES = sorted(
    {
        obj
        for name in errors.__all__
        if isinstance(obj := getattr(errors, name), type)
        and issubclass(obj, errors.FxgradError)
        and obj is not errors.FxgradError
    },
    key=lambda cls: cls.__name__,
)

EXPECTED_BUILTIN = {
    "ConcretizationError": TypeError,
    "TracerBoolConversionError": TypeError,
    "TracerIntegerConversionError": TypeError,
    "TracerArrayConversionError": TypeError,
    "UnexpectedTracerError": TypeError,
    "ShapeError": TypeError,
    "FxgradTypeError": TypeError,
    "ScalarOverflowError": OverflowError,
    "NonScalarOutputError": TypeError,
    "StaticArgumentError": ValueError,
    "BatchingError": ValueError,
    "MissingRuleError": NotImplementedError,
    "UnknownFlagError": AttributeError,
    "FlagValueError": ValueError,
    "WhileLoopReverseModeError": ValueError,
    "ControlFlowError": TypeError,
    "NaNError": FloatingPointError,
}


def test_every_error_class_is_listed_here():
    assert {cls.__name__ for cls in ERROR_CLASSES} == set(EXPECTED_BUILTIN)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_subclasses_mixin_and_builtin(cls):
    assert issubclass(cls, errors.FxgradError)
    assert issubclass(cls, EXPECTED_BUILTIN[cls.__name__])
    with pytest.raises(EXPECTED_BUILTIN[cls.__name__]):
        raise cls("boom")


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_message_ends_with_docs_link(cls):
    message = str(cls("what failed and the fix"))
    anchor = cls.__name__.lower()
    expected = f"what failed and the fix\n\nSee {errors.DOCS_ERRORS_URL}#{anchor}"
    assert message == expected


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_has_docstring_with_fix(cls):
    assert cls.__doc__ and "fix" in cls.__doc__.lower()


def test_link_is_not_stored_in_args_so_pickling_does_not_duplicate_it():
    error = errors.ShapeError("shapes (3,) and (4,) do not broadcast")
    assert error.args == ("shapes (3,) and (4,) do not broadcast",)
    restored = pickle.loads(pickle.dumps(error))
    assert str(restored) == str(error)
    assert str(restored).count(errors.DOCS_ERRORS_URL) == 1


def test_jax_compatible_names():
    assert errors.ConcretizationTypeError is errors.ConcretizationError
    for cls in (
        errors.TracerBoolConversionError,
        errors.TracerIntegerConversionError,
        errors.TracerArrayConversionError,
    ):
        assert issubclass(cls, errors.ConcretizationError)
    with pytest.raises(errors.ConcretizationTypeError, match="traced"):
        raise errors.TracerBoolConversionError("bool() of a traced value")


def test_docs_have_a_section_per_error_class():
    # mkdocs' default slug for "## ShapeError" is "shapeerror", the anchor the link uses.
    headings = re.findall(r"^## (\w+)\s*$", DOCS_ERRORS.read_text(), flags=re.MULTILINE)
    anchors = {heading.lower() for heading in headings}
    missing = [cls.__name__ for cls in ERROR_CLASSES if cls.__name__.lower() not in anchors]
    assert not missing, f"docs/errors.md lacks sections for {missing}"
    extra = anchors - {cls.__name__.lower() for cls in ERROR_CLASSES}
    assert not extra, f"docs/errors.md documents unknown errors {extra}"


def test_docs_sections_have_cause_and_fix():
    sections = re.split(r"^## ", DOCS_ERRORS.read_text(), flags=re.MULTILINE)[1:]
    for section in sections:
        name = section.split("\n", 1)[0].strip()
        assert "**Cause.**" in section, name
        assert "**Fix.**" in section, name
