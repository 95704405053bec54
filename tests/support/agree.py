"""Stepping a peer's optimizer/scheduler beside a converted setup and comparing every
parameter's hyperparameters at every step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

KEYS = ("lr", "weight_decay", "momentum", "betas")


def per_parameter(
    optimizer: torch.optim.Optimizer, names: dict[int, str], keys: Iterable[str] = KEYS
) -> dict[str, dict[str, float]]:
    """Each parameter's hyperparameters, read from the group that holds it."""
    out: dict[str, dict[str, float]] = {}
    for group in optimizer.param_groups:
        values: dict[str, float] = {}
        for k in keys:
            if k not in group:
                continue
            v = group[k]
            if k == "betas":
                values["beta1"], values["beta2"] = float(v[0]), float(v[1])
            else:
                values[k] = float(v)
        for p in group["params"]:
            out[names[id(p)]] = values
    return out


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) or a == b


def assert_agree(
    step: int,
    peer: dict[str, dict[str, float]],
    ours: dict[str, dict[str, float]],
    rel: float = 1e-12,
) -> None:
    assert set(peer) == set(ours), f"step {step}: parameters differ"
    for name, values in peer.items():
        for key, want in values.items():
            got = ours[name].get(key)
            assert got is not None, f"step {step}: {name}: {key} missing"
            assert close(want, got, rel), f"step {step}: {name}: {key} {got!r} != {want!r}"


def fake_grads(model: torch.nn.Module, step: int) -> None:
    """The same gradients for a model and its copy at a step (seeded by the step)."""
    g = torch.Generator().manual_seed(1000 + step)
    for _, p in model.named_parameters():
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)


def run_both(
    steps: int,
    peer_model: torch.nn.Module,
    peer_optimizer: torch.optim.Optimizer,
    peer_step: Callable[[int], None],
    built: object,
    our_model: torch.nn.Module,
    keys: Iterable[str] = KEYS,
    read: Callable[[int], tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]]
    | None = None,
) -> int:
    """Step both ``steps`` times; compare before every step and after the last. The peer's
    step runs ``clip + optimizer.step() + scheduler.step()`` for step ``k``."""
    keys = tuple(keys)
    peer_names = {id(p): n for n, p in peer_model.named_parameters()}
    our_names = {id(p): n for n, p in our_model.named_parameters()}
    compared = 0
    for k in range(steps + 1):
        if read is not None:
            peer, ours = read(k)
        else:
            peer = per_parameter(peer_optimizer, peer_names, keys)
            ours = per_parameter(built.optimizer, our_names, keys)  # type: ignore[attr-defined]
        assert_agree(k, peer, ours)
        compared += 1
        if k == steps:
            break
        fake_grads(peer_model, k)
        fake_grads(our_model, k)
        peer_step(k)
        built.step()  # type: ignore[attr-defined]
    for (n, a), (_, b) in zip(
        peer_model.named_parameters(), our_model.named_parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=lambda m, n=n: f"{n}: {m}")
    return compared
