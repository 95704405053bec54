"""The peers' own test files run against schedkit's aliases (``tox -e peers``).

Nothing of a peer is kept in this repository: at test time :mod:`.suites` fetches the
pinned source distribution through pip into a cache outside git, and runs the upstream
files unchanged in a separate pytest process whose imports of the peer's modules give
the aliases (:mod:`.shims`).
"""
