"""Another library's scheduler attributes on a scheduler (``sched.T_max``): the mixin the
scheduler classes of such schedules are made with."""

from __future__ import annotations

from typing import Any


class _PeerAttributes:
    """Another library's scheduler attributes (``sched.T_max``, ``sched.min_lrs``...: the
    schedule's :attr:`~schedkit.hooks.ScheduleHooks.peer_attributes`), read and written
    through the schedule's ``peer_get`` and ``peer_set``; nothing is looked up on the
    per-step path."""

    def __getattr__(self, name: str) -> Any:
        known = self.__dict__
        if name in known.get("_peer_names", ()):
            return known["schedule"].peer_get(name, self)
        shown = next(c for c in type(self).__mro__ if not issubclass(c, _PeerAttributes))
        raise AttributeError(f"{shown.__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("_peer_names", ()):
            self.schedule.peer_set(name, value, self)
        else:
            super().__setattr__(name, value)
