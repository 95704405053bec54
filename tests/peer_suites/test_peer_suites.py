"""The peers' own test files, unchanged, pass on the aliases (see :mod:`.suites`)."""

from __future__ import annotations

from importlib import metadata

import pytest

from tests.peer_suites.suites import SUITES, FetchError, Suite, fetch, run


@pytest.mark.parametrize("suite", list(SUITES.values()), ids=list(SUITES))
def test_the_peers_own_suite_passes_on_the_aliases(suite: Suite) -> None:
    try:
        installed = metadata.version(suite.dist)
    except metadata.PackageNotFoundError:
        installed = None
    assert installed in (None, suite.version), (
        f"the {suite.dist} suite is pinned to {suite.version}, the aliases are compared with "
        f"{installed} here: move the pin (and constraints.txt) together"
    )
    try:
        folder = fetch(suite)
    except FetchError as e:
        pytest.fail(f"the {suite.dist} suite could not be fetched: {e}")
    outcome = run(suite, folder)
    counted = outcome.counted(suite)
    for prefix in (*suite.no_alias, *suite.internals):
        assert any(k.startswith(prefix) for k in outcome.results), f"{prefix}: matches no test"
    failed = sorted(
        k
        for k, v in counted.items()
        if v != "passed" and not any(k.startswith(p) for p in suite.internals)
    )
    passed = sum(v == "passed" for v in counted.values())
    print(f"{suite.name}: {passed}/{len(counted)} of its own tests pass on the aliases")
    assert not failed, f"{suite.name}: failed on the aliases: {failed}\n{outcome.output}"
    assert len(counted) == suite.counted, sorted(counted)
    assert passed >= suite.bar


def test_a_suite_that_cannot_be_fetched_fails_loudly(tmp_path) -> None:
    missing = Suite(
        dist="timm",
        version="0.0.0.dev0",
        files=("tests/test_scheduler.py",),
        plugin="tests.peer_suites.timm_aliases",
        no_alias={},
        internals={},
        counted=0,
        bar=0,
    )
    with pytest.raises(FetchError, match="pip could not download"):
        fetch(missing, tmp_path)


def test_an_alias_class_binds_the_peers_positional_arguments_in_order() -> None:
    import torch

    from tests.peer_suites.shims import no_alias, scheduler_alias

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    cosine = scheduler_alias("timm.cosine", "CosineLRScheduler")
    sched = cosine(opt, 100, 1e-5, warmup_t=3)
    assert sched.schedule.t_initial == 100
    assert sched.schedule.lr_min == 1e-5
    assert sched.schedule.warmup_t == 3
    with pytest.raises(TypeError, match="multiple values for 't_initial'"):
        cosine(opt, 100, t_initial=50)
    stand_in = no_alias("timm.scheduler.WSDLRScheduler")
    assert stand_in.__name__ == "WSDLRScheduler"
    with pytest.raises(NotImplementedError, match="WSDLRScheduler has no schedkit alias"):
        stand_in(opt, t_initial=10)
