"""Type-checking a user's code against schedkit (the ``types`` tox env, which has mypy)."""
