"""Placeholder module of fxgrad.numpy."""

__all__: list[str] = []
