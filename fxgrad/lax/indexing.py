"""Placeholder: filled in by the indexing family."""

__all__: list[str] = []
