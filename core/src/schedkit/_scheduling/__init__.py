"""The scheduler's parts, one job each: the groups and keys it targets (``groups``), the
writers that apply values (``writers``), binding to the optimizer's groups (``binding``),
the family a name resolves to (``family``) and the saved state (``state``).
:class:`schedkit.Scheduler` puts them together; none of them imports it."""
