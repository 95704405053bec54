"""The param-group builder: rules decide each parameter's hyperparameters, groups are merged.

``build_param_groups(model, rules, lr=..., weight_decay=...)`` walks every trainable
parameter once (tied parameters once, frozen ones skipped), asks each rule in order, and
merges parameters with identical settings and tags into one group, so the number of groups
is the number of distinct settings (foreach and fused optimizers launch per group).

Precedence, per parameter: start from the defaults; each rule in order may set explicit
values (they replace the current value), then multipliers (they scale the current value),
then tags (added). Later rules act on what earlier rules left, so ``[layer_decay,
no_weight_decay, overrides]`` lets an override's ``lr_mult`` scale the decayed lr while an
override's ``lr`` replaces it.
"""

from __future__ import annotations

import collections
import contextvars
import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import torch

from schedkit._classes import Component, base_class
from schedkit._group_names import default_group_name, group_names
from schedkit._param_groups import Decision
from schedkit._param_groups import ParamGroups as ParamGroups
from schedkit.components import build
from schedkit.errors import SpecError
from schedkit.protocols import BindsAll, ParamRule, PlacementNotes
from schedkit.schedule import record_spec
from schedkit.values import ParamInfo, RuleEffect


@base_class
class BaseRule(Component):
    """Base class of param-group rules: a ``name``, ``spec()`` from the fields, ``bind()``.

    Subclasses are ``attrs.frozen`` classes with validated fields; ``bind(model)`` returns
    the function that decides for each parameter.

    **Writing a rule**: implement one of

    - ``bind(model) -> (ParamInfo -> RuleEffect | None)``: the per-model work once (find
      layers, compile patterns), then a decision per parameter; None says nothing;
    - ``bind_all(model) -> Column``: decisions for a sequence of parameters at once, in
      order (one loop in the rule is cheaper than a call per parameter on large models).

    Hand out shared :class:`RuleEffect` objects (the builder merges parameters decided
    alike by identity); raise :class:`UnplacedParameter` for a parameter the rule must
    place but cannot. Rules hold no state: a rule is configuration, compared by value.
    """

    name: ClassVar[str] = ""

    def spec(self) -> dict[str, Any]:
        """Plain-data description, every parameter included, that rebuilds this rule."""
        return record_spec(self)

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        """The decision for one parameter (derived from :meth:`bind_all` when a rule only
        implements that)."""
        if type(self).bind_all is BaseRule.bind_all:
            raise NotImplementedError(f"{type(self).__name__} implements neither bind nor bind_all")
        column = self.bind_all(model)
        return lambda info: column((info,))[0]

    def bind_all(self, model: torch.nn.Module) -> Column:
        """The decisions for a sequence of parameters, in order (from :meth:`bind` unless a
        rule implements it: one loop in the rule is cheaper than a call per parameter)."""
        decide = self.bind(model)
        return lambda infos: [decide(info) for info in infos]

    def group_name(
        self, model: torch.nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        """This rule's part of the names of the groups holding ``params``: the parameters it
        decided ``effect`` for (``None``: those it left alone), in model order; ``None`` adds
        nothing. By default the effect's tags (``+``-joined), else the rule's ``name``; the
        parameters left alone add nothing."""
        return default_group_name(self, effect)


Column = Callable[[Sequence[ParamInfo]], "list[RuleEffect | None]"]
"""A rule's decisions for several parameters at once (see :meth:`BaseRule.bind_all`)."""


class UnplacedParameter(SpecError):
    """A rule cannot decide for a parameter it must decide for (e.g. an unknown depth)."""


class _Walk(NamedTuple):
    infos: list[ParamInfo]  # the trainable parameters
    names: list[str]  # every parameter name
    owners: list[str]  # the name of every module holding one of them


def _walk(model: torch.nn.Module) -> _Walk:
    """One walk of the module tree: the trainable parameters, every parameter name, and the
    names of the modules that hold them.

    The order and the names are ``named_parameters()``'s (modules in pre-order, each module
    and each parameter once, under its first name), without ``named_modules()``' nested
    generators, which hand each module up every level.
    """
    seen: set[int] = set()  # parameters by id (a tensor's own hash is Python code)
    visited: set[torch.nn.Module] = set()
    infos: list[ParamInfo] = []
    names: list[str] = []
    owners: list[str] = []
    make = tuple.__new__  # the named tuple without its Python-level __new__: one per parameter
    # a stack rather than recursion (no closure cycle for the collector to find), and the
    # visited set checked when a module is reached, as named_modules() does, so a module
    # shared by two parents gets the same name as there
    stack: list[tuple[torch.nn.Module, str]] = [(model, "")]
    while stack:
        module, owner = stack.pop()
        if module in visited:
            continue
        visited.add(module)
        prefix = f"{owner}." if owner else ""
        params = module._parameters
        if params:
            before = len(names)
            for local, param in params.items():
                if param is None:
                    continue
                key = id(param)
                if key in seen:
                    continue
                seen.add(key)
                name = prefix + local
                names.append(name)
                if param.requires_grad:
                    infos.append(make(ParamInfo, (name, param, module, owner)))
            if len(names) != before:
                owners.append(owner)
        children = module._modules
        if children:
            stack.extend([(c, prefix + n) for n, c in reversed(children.items()) if c is not None])
    return _Walk(infos, names, owners)


def trainable_parameters(model: torch.nn.Module) -> Iterator[ParamInfo]:
    """Every trainable parameter once, with its full name and owning module, in model order.

    A tied parameter is reported once, under its first name (as ``named_parameters``);
    frozen parameters (``requires_grad=False``) are skipped.
    """
    yield from _walk(model).infos


_WALK: contextvars.ContextVar[tuple[int, _Walk] | None] = contextvars.ContextVar(
    "schedkit_walk", default=None
)


def _walked(model: torch.nn.Module) -> _Walk:
    """During a build, the builder's own walk of ``model``; else a new one."""
    cached = _WALK.get()
    if cached is not None and cached[0] == id(model):
        return cached[1]
    return _walk(model)


def parameter_names(model: torch.nn.Module) -> list[str]:
    """Every parameter name of ``model``, frozen ones included, in model order.

    Rules that number layers call this in ``bind``: during a build it is the builder's own
    walk of the model, so the module tree is walked once.
    """
    return _walked(model).names


def parameter_owners(model: torch.nn.Module) -> list[str]:
    """The names of the modules holding ``model``'s parameters (frozen ones included; ``""``
    for the model itself), each once, in model order.

    A block index (``blocks.3``) lies in a module name, never in a parameter's own name,
    so rules that number layers can search these: fewer and shorter than the parameter
    names. During a build they come from the builder's own walk.
    """
    return _walked(model).owners


def _rule(rule: Any, index: int) -> tuple[str, Any]:
    if isinstance(rule, (str, Mapping)):
        try:
            rule = build("rule", rule, {}, f"rules[{index}]")
        except SpecError as e:
            raise e if e.path.startswith("rules[") else e.at(f"rules[{index}]") from None
    if not callable(getattr(rule, "bind", None)):  # cheaper than a Protocol isinstance
        raise SpecError(f"expected a rule, a rule name or a spec, got {rule!r}", f"rules[{index}]")
    label = getattr(rule, "name", "") or type(rule).__name__
    return f"{label} (rules[{index}])", rule


_PARAM = operator.attrgetter("param")  # at C speed


def _frozen(value: Any) -> Any:
    """``value`` made hashable: lists as tuples (a list and a tuple of equal items are one
    setting, as for torch), mappings and sets frozen."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return ("{}", tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    if isinstance(value, (set, frozenset)):
        return frozenset(_frozen(v) for v in value)
    return value


def _column(rule: Any, model: torch.nn.Module) -> Column:
    """The rule's decisions for many parameters at once: its ``bind_all``, else its
    ``bind`` in a loop."""
    if isinstance(rule, BindsAll):
        column: Column = rule.bind_all(model)
        return column
    decide = rule.bind(model)
    return lambda infos: [decide(info) for info in infos]


def _decision_keys(columns: list[list[RuleEffect | None]], n: int) -> list[tuple[int, ...]]:
    """A key per parameter, equal for parameters every rule decided alike: rules hand out
    shared effect objects, so it is the tuple of the effects' ids (made column by column,
    at C speed)."""
    if not columns:
        return [()] * n
    return list(zip(*[map(id, c) for c in columns], strict=True))


def build_param_groups(
    model: torch.nn.Module,
    rules: Iterable[ParamRule | str | Mapping[str, Any]] = (),
    *,
    lr: float,
    weight_decay: float = 0.0,
    **defaults: Any,
) -> ParamGroups:
    """Param groups for ``model`` from ``rules``, merged to the distinct settings.

    Each group holds the real ``lr`` and ``weight_decay`` (and any other default) for its
    parameters, and ``tags`` when rules gave some, so schedulers apply their schedules on top
    of these base values.

    :param model: the model whose trainable parameters are grouped.
    :param rules: param-group rules applied in order: rule objects, registered names, or
        spec dicts with a ``type`` key.
    :param lr: the base learning rate the rules scale.
    :param weight_decay: the base weight decay the rules scale or zero.
    :param defaults: any other optimizer option every group starts with (``betas``...).
    :returns: the :class:`ParamGroups`, a list of dicts ready for ``torch.optim``.
    :raises SpecError: an unknown rule or a bad parameter, naming its key path.

    >>> groups = build_param_groups(
    ...     model, ["no_weight_decay"], lr=1e-3, weight_decay=0.05
    ... )  # doctest: +SKIP
    >>> torch.optim.AdamW(groups)  # doctest: +SKIP
    """
    base: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay, **defaults}
    decided = decide(model, rules)
    if not decided.infos:
        raise SpecError("the model has no trainable parameters")
    return decided.groups(base)


class Decided(NamedTuple):
    """Every rule's decision for every trainable parameter of a model, made once: the
    groups of all of them, or of a share of them (one optimizer's), come from it."""

    infos: list[ParamInfo]  # the trainable parameters, in model order
    labels: list[str]  # each rule's label, ``name (rules[i])``
    columns: list[list[RuleEffect | None]]  # per rule, its decision per parameter
    note_makers: list[Callable[[], list[str]]]
    model: torch.nn.Module
    rules: list[Any]  # the rules bound, one per column
    walk: Any  # the model's walk, which the rules' group names may read again

    def groups(self, base: Mapping[str, Any], share: Sequence[int] | None = None) -> ParamGroups:
        """The merged groups of the parameters at the indices ``share`` (all: None), each
        starting from ``base`` and named by the rules that made it (``name``, unique among
        these groups)."""
        infos, columns = self.infos, self.columns
        if share is not None:
            infos = [infos[i] for i in share]
            columns = [[c[i] for i in share] for c in columns]
        out = _group(base, infos, self.labels, columns)
        out._note_makers = self.note_makers
        token = _WALK.set((id(self.model), self.walk))
        try:
            names = group_names(
                self.model, self.rules, columns, infos, out._index_of, len(out), self.labels
            )
        finally:
            _WALK.reset(token)
        for group, name in zip(out, names, strict=True):
            group["name"] = name
        return out


def decide(
    model: torch.nn.Module, rules: Iterable[ParamRule | str | Mapping[str, Any]] = ()
) -> Decided:
    """Bind every rule to ``model`` and ask it for every trainable parameter (one walk of
    the model, one column of decisions per rule).

    :raises SpecError: a rule's problems with the model, each with its key path.
    :raises UnplacedParameter: parameters a rule must place and cannot, all named.
    """
    walk = _walk(model)
    infos = walk.infos
    bound: list[tuple[str, Column]] = []
    rule_objects: list[Any] = []
    note_makers: list[Callable[[], list[str]]] = []
    problems: list[SpecError] = []
    token = _WALK.set((id(model), walk))
    try:
        for i, r in enumerate(rules):
            label, rule = _rule(r, i)
            try:
                bound.append((label, _column(rule, model)))
                rule_objects.append(rule)
            except SpecError as e:  # every rule's problems with the model, not the first's
                for p in e.all():
                    path = p.path if p.path.startswith("rules[") else f"rules[{i}].{p.path}"
                    problems.append(type(p)(p.message, path.rstrip(".")))
                continue
            if isinstance(rule, PlacementNotes):
                note_makers.append(functools.partial(rule.placement_notes, model))
    finally:
        _WALK.reset(token)
    if problems:
        raise SpecError(problems[0].message, problems[0].path, problems[1:])
    columns: list[list[RuleEffect | None]] = []
    unplaced: list[str] = []
    # one column of decisions per rule: a tight loop per rule rather than per parameter
    for decide_all in (decide_all for _, decide_all in bound):
        try:
            columns.append(decide_all(infos))
        except UnplacedParameter:  # again one by one, to name every parameter not placed
            column: list[RuleEffect | None] = []
            for info in infos:
                try:
                    column.append(decide_all((info,))[0])
                except UnplacedParameter as e:
                    unplaced.append(f"{info.name}: {e.message}")
                    column.append(None)
            columns.append(column)
    if unplaced:
        raise UnplacedParameter(
            f"{len(unplaced)} parameter(s) could not be placed:\n  " + "\n  ".join(unplaced)
        )
    return Decided(
        infos, [label for label, _ in bound], columns, note_makers, model, rule_objects, walk
    )


def _group(
    base: Mapping[str, Any],
    infos: Sequence[ParamInfo],
    labels: Sequence[str],
    columns: list[list[RuleEffect | None]],
) -> ParamGroups:
    """The groups from the rules' columns of decisions: the settings of each distinct
    decision worked out once, decisions with equal settings and tags merged."""
    keys = _decision_keys(columns, len(infos))
    # a parameter per distinct decision; a dict keeps the order of first insertion, so these
    # are the distinct decisions in model order
    at = dict(zip(keys, range(len(keys)), strict=True))
    labelled = list(zip(labels, columns, strict=True))
    n_base = len(base)
    decided: dict[tuple[int, ...], Decision] = {}
    index_of: dict[tuple[int, ...], int] = {}
    by_settings: dict[Any, int] = {}
    groups: list[dict[str, Any]] = []
    for key, pos in at.items():
        # the settings: defaults, then each rule's values, multipliers and tags in order
        settings = dict(base)
        tags: frozenset[str] = frozenset()
        decision: list[tuple[str, RuleEffect]] = []
        for label, column in labelled:
            effect = column[pos]
            if effect is None:
                continue
            decision.append((label, effect))
            if effect.values:
                settings.update(effect.values)
            if effect.multipliers:
                for name, mult in effect.multipliers.items():
                    if name not in settings:
                        raise SpecError(
                            f"{label} scales {name!r}, which has no value to scale",
                            infos[pos].name,
                        )
                    settings[name] = settings[name] * mult
            if effect.tags:
                tags |= effect.tags
        # the merge key: equal for equal settings and tags; the settings' order is the
        # defaults' unless a rule added keys (then sorted)
        items = tuple(settings.items())
        same = (items if len(items) == n_base else tuple(sorted(items)), tuple(sorted(tags)))
        try:
            index = by_settings.get(same)
        except TypeError:  # unhashable values, e.g. betas = [0.9, 0.99] from a TOML file
            same = _frozen(same)
            index = by_settings.get(same)
        if index is None:
            group = {"params": [], **settings}
            if tags:
                group["tags"] = sorted(tags)
            index = by_settings[same] = len(groups)
            groups.append(group)
        index_of[key] = index
        decided[key] = decision
    # each parameter to its group's list: the appends looked up once per decision, called
    # in C (operator.call over two maps), not one Python iteration per parameter
    append_for = {key: groups[i]["params"].append for key, i in index_of.items()}
    collections.deque(
        map(operator.call, map(append_for.__getitem__, keys), map(_PARAM, infos)), maxlen=0
    )
    return ParamGroups(groups, base, decided, infos, keys, index_of)
