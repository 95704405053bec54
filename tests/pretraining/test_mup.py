"""The ``mup`` rule against the ``mup`` library: on the same model after
``mup.set_base_shapes(model, base)``, its groups are ``MuAdam``'s, ``MuAdamW``'s and
``MuSGD``'s (every parameter with the same lr and weight decay, to the last bit), and a
model trained by torch's own optimizer on them ends with the weights ``MuAdamW`` and
``MuSGD`` give, in float64."""

from __future__ import annotations

import mup
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit import build_param_groups
from schedkit_param_rules.mup import Mup, base_shapes

VOCAB = 11


class Block(nn.Module):
    def __init__(self, width: int, ffn: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, ffn)
        self.down = nn.Linear(ffn, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1], dim=-1)  # μP: 1/d
        x = x + self.proj(att @ v)
        return x + self.down(torch.relu(self.up(self.norm2(x))))


class TinyLM(nn.Module):
    """A two-block transformer with μP's readout: embeddings and norms (one width
    dimension), hidden matrices (two), a readout (fan-in a width)."""

    def __init__(self, width: int, ffn: int | None = None, depth: int = 2) -> None:
        super().__init__()
        ffn = 4 * width if ffn is None else ffn
        self.embed = nn.Embedding(VOCAB, width)
        self.pos = nn.Parameter(torch.randn(6, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, ffn) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = mup.MuReadout(width, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def _model(width: int, ffn: int | None, base: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = TinyLM(width, ffn)
    # without mup's check that a fan-in width feeds only a readout: the property test
    # widens the ffn alone too (the groups are defined all the same)
    mup.set_base_shapes(model, base, do_assert=False)
    return model


def _per_param(groups) -> dict[int, tuple[float, float]]:
    return {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}


def _partition(groups) -> set[tuple[tuple[float, float], frozenset[int]]]:
    """The groups merged by their settings (``MuAdam`` keeps one group per width
    multiplier and input group, schedkit one per distinct setting)."""
    merged: dict[tuple[float, float], set[int]] = {}
    for g in groups:
        merged.setdefault((g["lr"], g["weight_decay"]), set()).update(id(p) for p in g["params"])
    return {(k, frozenset(v)) for k, v in merged.items()}


MU = {"adam": (mup.MuAdam, mup.MuAdamW), "sgd": (mup.MuSGD,)}


@settings(max_examples=25, deadline=None)
@given(
    base=st.tuples(st.integers(1, 12), st.integers(1, 24)),
    wide=st.tuples(st.integers(1, 48), st.integers(1, 96)),
    scaling=st.sampled_from(["adam", "sgd"]),
    lr=st.floats(1e-5, 1.0),
    weight_decay=st.floats(0.0, 0.5),
)
def test_groups_equal_mups(base, wide, scaling, lr, weight_decay):
    small = TinyLM(*base)
    model = _model(*wide, small)
    rule = {"type": "mup", "base_shapes": base_shapes(small), "scaling": scaling}
    ours = build_param_groups(model, [rule], lr=lr, weight_decay=weight_decay)
    for mu in MU[scaling]:
        theirs = mu(model.parameters(), lr=lr, weight_decay=weight_decay).param_groups
        assert _per_param(ours) == _per_param(theirs), mu.__name__
        assert _partition(ours) == _partition(theirs), mu.__name__


@pytest.mark.parametrize("scaling", ["adam", "sgd"])
def test_after_no_weight_decay_equals_mup_on_those_groups(scaling):
    """``[no_weight_decay, mup]`` is ``MuAdam`` (``MuSGD``) given the groups of
    ``no_weight_decay``: the order the docs recommend."""
    small = TinyLM(4)
    model = _model(24, None, small)
    nwd = {"type": "no_weight_decay"}
    mu = {"type": "mup", "base_shapes": base_shapes(small), "scaling": scaling}
    ours = build_param_groups(model, [nwd, mu], lr=3e-3, weight_decay=0.1)
    before = build_param_groups(model, [nwd], lr=3e-3, weight_decay=0.1)
    theirs = MU[scaling][0](before, lr=3e-3, weight_decay=0.1).param_groups
    assert _per_param(ours) == _per_param(theirs)
    assert _partition(ours) == _partition(theirs)
    assert len(ours) == 3 if scaling == "adam" else len(ours) > 3


def test_the_multipliers_are_mups_infshapes():
    small = TinyLM(4, 8)
    model = _model(20, 24, small)
    ours = Mup.from_model(small).multipliers(model)
    for name, p in model.named_parameters():
        dims = p.infshape
        assert ours[name] == tuple(d.width_mult() for d in dims), name


def _batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    return [
        (torch.randint(0, VOCAB, (4, 6), generator=g), torch.randint(0, VOCAB, (4, 6), generator=g))
        for _ in range(steps)
    ]


def _train(model: nn.Module, step, batches) -> None:
    for tokens, targets in batches:
        logits = model(tokens)
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        step()


@pytest.mark.parametrize(
    ("scaling", "mu", "torch_opt", "options"),
    [
        ("adam", mup.MuAdamW, torch.optim.AdamW, {"betas": (0.9, 0.95)}),
        ("sgd", mup.MuSGD, torch.optim.SGD, {"momentum": 0.9}),
    ],
)
def test_trained_both_ways_to_the_same_weights(scaling, mu, torch_opt, options):
    """``MuAdamW`` (``MuSGD``) on the model, and torch's own ``AdamW`` (``SGD``) on the
    rule's groups after ``no_weight_decay``, from the same weights: the same weights after
    20 steps, to the last bit, in float64."""
    torch.set_default_dtype(torch.float64)
    try:
        small = TinyLM(4)
        a = _model(32, None, small).double()
        b = _model(32, None, small).double()
        nwd = {"type": "no_weight_decay"}
        lr, wd = 2e-2 if scaling == "adam" else 5e-2, 0.1
        opt_a = mu(
            build_param_groups(a, [nwd], lr=lr, weight_decay=wd), lr=lr, weight_decay=wd, **options
        )
        rule = {"type": "mup", "base_shapes": base_shapes(small), "scaling": scaling}
        groups = build_param_groups(b, [nwd, rule], lr=lr, weight_decay=wd)
        opt_b = torch_opt(groups, lr=lr, **options)
        batches = _batches(20)

        def step_a() -> None:
            opt_a.step()
            opt_a.zero_grad()

        def step_b() -> None:
            opt_b.step()
            opt_b.zero_grad()

        start = [p.detach().clone() for p in b.parameters()]
        _train(a, step_a, batches)
        _train(b, step_b, batches)
        for (name, p), q, s in zip(a.named_parameters(), b.parameters(), start, strict=True):
            assert p.dtype == torch.float64
            assert torch.equal(p, q), name
            assert not torch.equal(q, s), name  # it trained
    finally:
        torch.set_default_dtype(torch.float32)


def test_a_setup_trains_as_mu_adamw_with_a_schedule():
    """The TOML route: a setup with the rule and a cosine schedule, stepped by
    ``Built.step()``, against ``MuAdamW`` under a ``LambdaLR`` of the same curve."""
    torch.set_default_dtype(torch.float64)
    try:
        small = TinyLM(4)
        a = _model(32, None, small).double()
        b = _model(32, None, small).double()
        setup = schedkit.load_setup(
            {
                "run": {"total": 20},
                "optimizer": {"type": "AdamW", "lr": 1e-2, "weight_decay": 0.1},
                "rules": [
                    {"type": "no_weight_decay"},
                    {"type": "mup", "base_shapes": base_shapes(small)},
                ],
                "schedules": {"lr": {"type": "cosine", "warmup": 5}},
            }
        )
        built = setup.build(b)
        curve = built.schedulers["lr"].schedule
        opt = mup.MuAdamW(
            build_param_groups(a, ["no_weight_decay"], lr=1e-2, weight_decay=0.1),
            lr=1e-2,
            weight_decay=0.1,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: curve(step))

        def step_a() -> None:
            opt.step()
            sched.step()
            opt.zero_grad()

        batches = _batches(20)
        _train(a, step_a, batches)
        _train(b, built.step, batches)
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q), name
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("scaling", ["adam", "sgd"])
def test_a_delta_model_and_a_base_shape_file_as_mup_reads_them(scaling, tmp_path):
    """``set_base_shapes(model, base, delta=delta)`` and ``set_base_shapes(model, file)``:
    the width dimensions are the ones base and delta differ in, at every width; the rule
    from ``Mup.from_model(base, delta)`` and from the file's table (``fixed_if_equal``
    false) gives the same groups, on a model whose ffn is the base's (multiplier 1, still
    a width)."""
    yaml = pytest.importorskip("yaml")
    base, delta = TinyLM(4, 8), TinyLM(8, 16)
    torch.manual_seed(0)
    model = TinyLM(24, 8)
    file = tmp_path / "base.bsh"
    mup.set_base_shapes(model, base, delta=delta, savefile=str(file), do_assert=False)
    lr, wd = 1e-2, 0.1
    theirs = MU[scaling][0](model.parameters(), lr=lr, weight_decay=wd).param_groups
    table = yaml.safe_load(file.read_text())
    assert table["blocks.0.up.weight"] == [8, 4]
    assert table["head.weight"] == [None, 4]
    from_file = {
        "type": "mup",
        "base_shapes": table,
        "scaling": scaling,
        "fixed_if_equal": False,
    }
    from_delta = Mup.from_model(base, delta, scaling=scaling)
    read = schedkit.get_rule(from_file)
    assert dict(from_delta.base_shapes) == dict(read.base_shapes)  # yaml sorts the names
    for rule in (from_file, from_delta):
        ours = build_param_groups(model, [rule], lr=lr, weight_decay=wd)
        assert _per_param(ours) == _per_param(theirs)
        assert _partition(ours) == _partition(theirs)
    # read as a base model would be (equal is fixed), the ffn matrices are vector-like
    plain = build_param_groups(
        model, [{**from_file, "fixed_if_equal": True}], lr=lr, weight_decay=wd
    )
    assert _per_param(plain) != _per_param(theirs)
