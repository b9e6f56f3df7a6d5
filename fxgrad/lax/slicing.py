"""Placeholder: filled in by the slicing family."""

__all__: list[str] = []
