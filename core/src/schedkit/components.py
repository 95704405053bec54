"""Building rules and clippers by registered name, with the same checks as schedules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedkit.errors import SpecError
from schedkit.registry import Kind, default_registry
from schedkit.schedule import _check_keys, _fields_of


def build(
    kind: Kind, name_or_spec: str | Mapping[str, Any], params: Mapping[str, Any], path: str = ""
) -> Any:
    """Build a registered component of ``kind``: unknown and missing parameters are named."""
    if isinstance(name_or_spec, Mapping):
        spec = dict(name_or_spec)
        if "type" not in spec:
            raise SpecError(f"a {kind} spec needs a 'type' key", path)
        name = spec.pop("type")
        params = {**spec, **params}
    else:
        name = name_or_spec
    info = default_registry().get(kind, name)
    fields = _fields_of(info.cls)
    if fields:
        _check_keys(info.name, params, fields, path, extra=())
        params = dict(params)
    try:
        return info.cls(**params)
    except SpecError as e:
        raise e.at(path) if path else e from None
    except TypeError as e:
        raise SpecError(f"cannot build {info.name!r}: {e}", path) from None


def get_rule(name_or_spec: str | Mapping[str, Any], /, **params: Any) -> Any:
    """Build a registered param-group rule by name (or from a spec dict).

    :param name_or_spec: a registered rule name, or a spec dict with a ``type`` key.
    :param params: the rule's parameters, with a name.
    :returns: the rule, for :func:`build_param_groups` or a setup's ``rules``.
    :raises SpecError: an unknown name or a bad parameter, naming its key path.
    """
    return build("rule", name_or_spec, params)


def get_clipper(name_or_spec: str | Mapping[str, Any], /, **params: Any) -> Any:
    """Build a registered gradient clipper by name (or from a spec dict).

    :param name_or_spec: a registered clipper name, or a spec dict with a ``type`` key.
    :param params: the clipper's parameters, with a name.
    :returns: the clipper: call it on the parameters after ``backward()``.
    :raises SpecError: an unknown name or a bad parameter, naming its key path.
    """
    return build("clipper", name_or_spec, params)
