"""Placeholder: filled in by the sorting family."""

__all__: list[str] = []
