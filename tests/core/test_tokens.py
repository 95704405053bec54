"""Tokens and samples as time: the duration grammar, the [run] table's horizon and clock,
the clocked scheduler (its resume exact), the batch ramp, the horizon warning."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import BatchRamp, ClockedScheduler, HorizonWarning, SpecError, StateError, to_steps
from schedkit.durations import check_duration
from schedkit.setup import SetupError


def _opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=lr)


# -- the grammar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kw", "steps"),
    [
        ("2e9tok", {"tokens_per_step": 10**6}, 2000),
        ("2Btok", {"tokens_per_step": 10**6}, 2000),
        ("2Gtok", {"tokens_per_step": 10**6}, 2000),
        ("1.5Mtok", {"tokens_per_step": 1000}, 1500),
        ("1Ttok", {"tokens_per_step": 4 * 2**20}, round(10**12 / (4 * 2**20))),
        ("500ksp", {"samples_per_step": 512}, round(500_000 / 512)),
        (" 3e3 sp ", {"samples_per_step": 3}, 1000),
        (".5ktok", {"tokens_per_step": 1}, 500),
        ("2E+3tok", {"tokens_per_step": 2}, 1000),
        # the existing ones, unchanged
        ("5ep", {"steps_per_epoch": 100}, 500),
        ("10%", {"total_steps": 1000}, 100),
        (1000, {}, 1000),
    ],
)
def test_tokens_and_samples_resolve(value, kw, steps):
    assert to_steps(value, **kw) == steps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2xtok", "'2xtok' is not a duration; expected steps (1000), epochs ('5ep')"),
        ("tok", "'tok' is not a duration"),
        ("-1tok", "'-1tok' is not a duration"),
        ("2btok", "'2btok' is not a duration"),  # magnitudes are case-sensitive: m is not M
        ("2 tokens", "'2 tokens' is not a duration"),
        ("1e999tok", "'1e999tok': more tokens than 2**62"),
        ("1e30sp", "'1e30sp': more samples than 2**62"),
        ("nanTok", "not a duration"),
        ("inftok", "not a duration"),
        ("1e5ep", "not a duration"),  # scientific notation is for tokens and samples
        ("5%tok", "not a duration"),
        ("2e9tok\x00", "not a duration"),
    ],
)
def test_hostile_strings_are_refused(value, message):
    with pytest.raises(SpecError) as e:
        check_duration(value)
    assert message in str(e.value)


def test_tokens_need_their_rate():
    with pytest.raises(SpecError, match=r"'2Btok' is in tokens, but tokens_per_step was not"):
        to_steps("2Btok")
    with pytest.raises(SpecError, match=r"'5sp' is in samples, but samples_per_step was not"):
        to_steps("5sp", tokens_per_step=3)
    with pytest.raises(SpecError, match=r"tokens_per_step=0 must be a positive number"):
        to_steps("5tok", tokens_per_step=0)
    with pytest.raises(SpecError, match=r"tokens_per_step=nan must be a positive number"):
        to_steps("5tok", tokens_per_step=math.nan)


def test_check_keeps_token_strings():
    assert check_duration(" 2Btok ") == "2Btok"


def test_a_schedule_in_tokens_is_resolved_at_a_rate():
    u = schedkit.get_schedule("wsd", warmup="1Mtok", total="10Mtok", decay="20%")
    assert isinstance(u, schedkit.Unresolved)
    s = u.in_steps(tokens_per_step=1000).resolve()
    assert s == schedkit.get_schedule("wsd", warmup=1000, total=10_000, decay=2000)
    with pytest.raises(SpecError, match=r"^total: '10Mtok' is in tokens, but tokens_per_step"):
        u.resolve()


# -- the [run] table ------------------------------------------------------------------

_OPT = '[optimizer]\ntype = "AdamW"\nlr = 3e-4\n\n[schedules.lr]\ntype = "cosine"\n'


def _load(run: str, rest: str = _OPT) -> schedkit.Setup:
    return schedkit.loads_setup(f"[run]\n{run}\n{rest}")


@pytest.mark.parametrize(
    ("run", "total", "spe"),
    [
        (
            "dataset_size = 10000\nbatch_size = 8\nworld_size = 4\ngrad_accumulation = 4\nepochs = 3",
            237,
            79,
        ),
        (
            "dataset_size = 10000\nbatch_size = 8\nworld_size = 4\ngrad_accumulation = 4\nepochs = 3\ndrop_last = true",
            234,
            78,
        ),
        ("dataset_size = 100\nbatch_size = 8\nepochs = 2.5", 33, 13),
        ("dataset_size = 100\nbatch_size = 8\ngrad_accumulation = 64\nepochs = 2", 2, 1),
        ("dataset_size = 100\nbatch_size = 8\nmax_steps = 7", 7, 13),
        ("batch_size = 512\nseq_len = 2048\ntotal = '10Btok'", round(10**10 / 2**20), None),
        ("tokens_per_step = 1000\ntotal = '2Mtok'", 2000, None),
        ("batch_size = 64\ntotal = '6.4ksp'", 100, None),
        ("total = 500", 500, None),
    ],
)
def test_the_horizon_is_derived(run, total, spe):
    setup = _load(run)
    assert (setup.total, setup.steps_per_epoch) == (total, spe)
    assert setup.run is not None
    assert setup.run.how
    assert setup.to_dict()["run"] == schedkit.loads_setup(setup.to_toml()).to_dict()["run"]


def test_the_derivation_says_each_number():
    setup = _load(
        "dataset_size = 10000\nbatch_size = 8\nworld_size = 4\ngrad_accumulation = 4\nepochs = 3"
    )
    assert setup.run.how == (
        "global batch 128 = batch_size 8 x world_size 4 x grad_accumulation 4",
        "1250 batches = ceil(dataset_size 10000 / batch_size 8), 313 per device = "
        "ceil(1250 / world_size 4)",
        "79 updates per epoch = ceil(313 / grad_accumulation 4)",
        "horizon 237 steps = ceil(epochs 3.0 x 79 steps per epoch)",
    )


def test_the_global_batch_scales_the_lr():
    rest = _OPT.replace("lr = 3e-4", 'base_lr = 1e-3\nlr_scaling = "linear"')
    setup = _load("batch_size = 8\nworld_size = 4\ngrad_accumulation = 8\ntotal = 9", rest)
    assert setup.batch_size == 256
    assert setup.learning_rate() == 1e-3


@pytest.mark.parametrize(
    ("run", "problem"),
    [
        (
            "epochs = 3\nmax_steps = 4",
            "run.max_steps: give the run's length once: epochs or max_steps",
        ),
        ("epochs = 3", "run.epochs: epochs need dataset_size and batch_size, or steps_per_epoch"),
        ("epochs = -1", "run.epochs: expected a positive number, got -1"),
        ("epochs = nan", "run.epochs: expected a positive number, got nan"),
        ("dataset_size = 100\nepochs = 1", "run.batch_size: dataset_size counts batches"),
        ("dataset_size = 0", "run.dataset_size: expected a positive whole number, got 0"),
        ("world_size = true", "run.world_size: expected a positive whole number, got True"),
        ("drop_last = 1", "run.drop_last: expected true or false, got 1"),
        ("clock = 'tokenz'", "run.clock: expected 'steps', 'tokens' or 'samples'"),
        ("total = '2e9tokens'", "run.total: '2e9tokens' is not a duration"),
        ("total = '2e9tok'", "run.total: '2e9tok' is in tokens, but tokens_per_step was not"),
        (
            "batch_size = 4\nseq_len = 8\ntokens_per_step = 30",
            "run.tokens_per_step: 30 is not the global batch 4 x seq_len 8",
        ),
        (
            "dataset_size = 100\nbatch_size = 8\nsteps_per_epoch = 12",
            "run.steps_per_epoch: 12, but dataset_size 100 gives 13 updates",
        ),
        (
            "batch_size = 64\nbatch_ramp = {start = 16, increment = 16}",
            "run.batch_ramp.ramp_samples: missing",
        ),
        (
            "batch_size = 64\nbatch_ramp = {start = 16, increment = 15, ramp_samples = 9}",
            "run.batch_ramp.increment: batch_size - start (48) must be a multiple of increment (15)",
        ),
        (
            "batch_size = 8\nbatch_ramp = {start = 16, increment = 8, ramp_samples = 9}",
            "run.batch_size: expected at least start (16), got 8",
        ),
        (
            "batch_size = 64\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 0}",
            "run.batch_ramp.ramp_samples: expected a positive whole number, got 0",
        ),
        (
            "batch_size = 64\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 9, bogus = 1}",
            "run.batch_ramp.bogus: unknown key",
        ),
        (
            "batch_ramp = {start = 16, increment = 16, ramp_samples = 9}",
            "run.batch_size: a batch ramp ramps up to the run's batch_size",
        ),
        (
            "batch_size = 64\nclock = 'steps'\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 9}",
            "run.clock: with a batch ramp steps and samples are not proportional",
        ),
        (
            "batch_size = 64\nclock = 'samples'\ntotal = 100\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 9}",
            "run.total: on a samples clock give the run's length in samples",
        ),
        (
            "batch_size = 64\nclock = 'tokens'\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 9}",
            "run.seq_len: a token clock needs seq_len",
        ),
        ("batch_ramp = 5", "run.batch_ramp: expected a table, got 5"),
        ("clock = 3", "run.clock: expected 'steps', 'tokens' or 'samples', got 3"),
        ("seq_len = 1e3", "run.seq_len: expected a positive whole number, got 1000.0"),
        (
            "tokens_per_step = 99999999999999999999",
            "run.tokens_per_step: expected a whole number <= 2**62",
        ),
        (
            "batch_size = 64\nbatch_ramp = {start = 16, increment = 16, ramp_samples = 9, follow_lr = true}",
            "run.batch_ramp.follow_lr: the lr follows the batch by [optimizer] lr_scaling",
        ),
        ("bogus = 1", "run.bogus: unknown key"),
    ],
)
def test_run_problems_name_the_key(run, problem):
    with pytest.raises(SetupError) as e:
        _load(run)
    assert problem in str(e.value)


def test_durations_in_tokens_in_a_schedule_need_the_rate():
    rest = _OPT + 'warmup = "2Mtok"\n'
    with pytest.raises(SetupError, match=r"schedules\.lr\.warmup: '2Mtok' is in tokens"):
        _load("total = 100", rest)
    s = _load("total = '20Mtok'\ntokens_per_step = 1000", rest)
    built = s.build(torch.nn.Linear(2, 2))
    assert built.schedulers["lr"].schedule.spec()["warmup"] == 2000
    assert built.total_steps == 20_000


# -- the clocked scheduler ------------------------------------------------------------


def test_a_token_clock_counts_what_each_step_consumed():
    sched = ClockedScheduler(_opt(), "cosine", clock="tokens", total="1Mtok", warmup="100ktok")
    plain = schedkit.get_schedule("cosine", total=10**6, warmup=100_000)
    consumed = 0
    for n in (50_000, 50_000, 100_000, 0, 123_457):
        sched.step(tokens=n)
        consumed += n
        assert sched.consumed == consumed
        assert sched.get_last_lr() == [plain(consumed)]
    assert sched.updates == 5


def test_samples_on_a_token_clock_and_tokens_on_a_sample_clock():
    t = ClockedScheduler(_opt(), "linear", clock="tokens", seq_len=8, total="10sp")
    t.step(samples=2)
    assert t.consumed == 16
    s = ClockedScheduler(_opt(), "linear", clock="samples", seq_len=8, total="80tok")
    assert s.schedule.spec()["total"] == 10
    s.step(tokens=16)
    assert s.consumed == 2
    with pytest.raises(SpecError, match=r"^tokens: a sample clock counts whole samples: 5"):
        s.step(tokens=5)
    assert (s.consumed, s.updates) == (2, 1)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "tokens: a tokens clock advances by what each step consumed"),
        ({"tokens": -1}, "tokens: expected a whole number >= 0, got -1"),
        ({"tokens": 1.5}, "tokens: expected a whole number >= 0, got 1.5"),
        ({"tokens": True}, "tokens: expected a whole number >= 0, got True"),
        ({"samples": 3}, "samples: samples on a token clock need seq_len"),
    ],
)
def test_a_refused_amount_changes_nothing(kw, message):
    sched = ClockedScheduler(_opt(), "cosine", clock="tokens", total="1ktok")
    sched.step(tokens=10)
    with pytest.raises(SpecError) as e:
        sched.step(**kw)
    assert str(e.value) == message or message in str(e.value)
    assert (sched.consumed, sched.updates) == (10, 1)


@pytest.mark.parametrize("kw", [{"epoch": 3, "tokens": 10}, {"metric": 0.5}, {"epoch": 3}])
def test_an_epoch_or_a_metric_is_refused_even_beside_tokens(kw):
    sched = ClockedScheduler(_opt(), "cosine", clock="tokens", total="1ktok")
    sched.step(tokens=10)
    with pytest.raises(TypeError, match="takes tokens= or samples="):
        sched.step(**kw)
    assert (sched.consumed, sched.updates) == (10, 1)


def test_construction_errors():
    with pytest.raises(SpecError, match=r"^clock: expected one of 'tokens', 'samples'"):
        ClockedScheduler(_opt(), "cosine", clock="steps", total=10)
    with pytest.raises(SpecError, match=r"^seq_len: expected a positive whole number"):
        ClockedScheduler(_opt(), "cosine", seq_len=0, total=10)
    with pytest.raises(SpecError, match=r"^lr_scaling: lr_scaling follows a batch-size ramp"):
        ClockedScheduler(_opt(), "cosine", lr_scaling="linear", total=10)
    with pytest.raises(SpecError, match=r"^seq_len: a ramp counts samples"):
        ClockedScheduler(_opt(), "cosine", ramp=BatchRamp(1, 1, 1, 2), total=10)
    with pytest.raises(SpecError, match=r"^follow_optimizer: "):
        ClockedScheduler(_opt(), "cosine", total=10, follow_optimizer=True)


_AMOUNTS = st.lists(st.integers(0, 5000), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(_AMOUNTS, st.data())
def test_resume_is_exact(amounts, data):
    """Stopped after any step and resumed from its state, the scheduler gives the same
    floats as one that never stopped."""
    spec = {"type": "wsd", "total": "100ktok", "warmup": "5ktok", "decay": "30%"}
    whole = ClockedScheduler(_opt(), spec, clock="tokens")
    expected = []
    for n in amounts:
        whole.step(tokens=n)
        expected.append(whole.get_last_lr())
    cut = data.draw(st.integers(0, len(amounts)))
    first = ClockedScheduler(_opt(), spec, clock="tokens")
    got = []
    for n in amounts[:cut]:
        first.step(tokens=n)
        got.append(first.get_last_lr())
    state = first.state_dict()
    opt = _opt()
    second = ClockedScheduler(opt, spec, clock="tokens")
    second.load_state_dict(state)
    assert (second.consumed, second.updates) == (first.consumed, cut)
    for n in amounts[cut:]:
        second.step(tokens=n)
        got.append(second.get_last_lr())
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 16),
    st.integers(0, 8),
    st.integers(1, 20_000),
    st.integers(0, 60),
    st.sampled_from([None, "linear", "sqrt"]),
)
def test_resume_on_a_ramp_is_exact(start, increment, n, ramp_samples, cut, scaling):
    ramp = BatchRamp(start, increment, ramp_samples, start + n * increment)
    kw = {"clock": "samples", "ramp": ramp, "lr_scaling": scaling, "total": "50ksp"}
    whole = ClockedScheduler(_opt(), "cosine", **kw)
    expected = []
    for _ in range(60):
        whole.step()
        expected.append(whole.get_last_lr())
    first = ClockedScheduler(_opt(), "cosine", **kw)
    for _ in range(cut):
        first.step()
    second = ClockedScheduler(_opt(), "cosine", **kw)
    second.load_state_dict(first.state_dict())
    got = expected[:cut]
    for _ in range(60 - cut):
        second.step()
        got.append(second.get_last_lr())
    assert got == expected
    assert whole.consumed == ramp.consumed(60)


def test_a_state_of_another_clock_is_refused_whole():
    a = ClockedScheduler(_opt(), "cosine", clock="tokens", total="1ktok")
    a.step(tokens=10)
    b = ClockedScheduler(_opt(), "cosine", clock="samples", total="1ksp")
    with pytest.raises(StateError, match=r"^clock\.unit: the state's clock has unit 'tokens'"):
        b.load_state_dict(a.state_dict())
    state = a.state_dict()
    state["clock"]["updates"] = -3
    with pytest.raises(StateError, match=r"clock\.updates"):
        a.load_state_dict(state)
    assert (a.consumed, a.updates) == (10, 1)
    plain = schedkit.Scheduler(_opt(), "cosine", total=1000).state_dict()
    with pytest.raises(StateError, match=r"clock"):
        a.load_state_dict(plain)


# -- the ramp -------------------------------------------------------------------------


def test_the_ramp_steps_up_by_its_increment():
    ramp = BatchRamp(start=32, increment=32, ramp_samples=1000, batch_size=128)
    assert [ramp.batch(c) for c in (0, 333, 334, 666, 667, 1000, 1001)] == [
        32, 32, 64, 64, 96, 128, 128,
    ]  # fmt: skip
    assert BatchRamp(64, 8, 100, 64).batch(0) == 64


def test_the_lr_follows_the_batch():
    ramp = BatchRamp(start=32, increment=32, ramp_samples=1000, batch_size=128)
    sched = ClockedScheduler(_opt(), "constant", clock="samples", ramp=ramp, lr_scaling="sqrt")
    values = []
    for _ in range(30):
        values.append(sched.get_last_lr()[0])
        sched.step()
    assert values[0] == math.sqrt(32 / 128)
    assert values[-1] == 1.0
    assert values == sorted(values)


# -- the setup on a clock, the horizon warning ----------------------------------------

_RAMPED = """
[run]
batch_size = 64
seq_len = 16
total = "1Msp"
clock = "tokens"
batch_ramp = { start = 16, increment = 16, ramp_samples = 3000, follow_lr = true }

[optimizer]
type = "SGD"
base_lr = 0.1
lr_scaling = "linear"
base_batch_size = 64

[schedules.lr]
type = "wsd"
warmup = "32ksp"
decay = "20%"
"""


def test_a_setup_on_a_token_clock_follows_its_ramp():
    setup = schedkit.loads_setup(_RAMPED)
    assert (setup.total, setup.run.clock) == (16 * 10**6, "tokens")
    built = setup.build(torch.nn.Linear(2, 2))
    sched = built.schedulers["lr"]
    assert isinstance(sched, ClockedScheduler)
    curve = schedkit.get_schedule("wsd", total=16 * 10**6, warmup=32_000 * 16, decay=3_200_000)
    ramp = setup.run.ramp
    for _ in range(5):
        built.step()
    samples = ramp.consumed(5)
    assert sched.consumed == samples * 16
    assert built.optimizer.param_groups[0]["lr"] == 0.1 * (
        curve(samples * 16) * ramp.batch(samples) / 64
    )
    built.step(tokens=160)
    assert sched.consumed == samples * 16 + 160


def test_built_step_refuses_tokens_on_a_step_clock():
    built = _load("total = 10").build(torch.nn.Linear(2, 2))
    with pytest.raises(SpecError, match=r"^tokens: this setup counts steps"):
        built.step(tokens=5)
    assert built.schedulers["lr"].steps == 0


def test_past_the_end_it_warns_once():
    built = _load("total = 3").build(torch.nn.Linear(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            built.step()
    with pytest.warns(HorizonWarning, match=r"past the end of its schedules \(3 steps\)"):
        built.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        built.step()
    assert issubclass(HorizonWarning, schedkit.SchedkitWarning)


def test_a_clocked_setup_warns_past_its_tokens():
    setup = _load("tokens_per_step = 100\nclock = 'tokens'\ntotal = '300tok'")
    built = setup.build(torch.nn.Linear(2, 2))
    sched = built.schedulers["lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            built.step()
    assert (sched.steps, sched.consumed) == (3, 300)
    with pytest.warns(HorizonWarning, match=r"\(300 tokens\)"):
        built.step(tokens=1)


def test_a_clock_told_each_step_refuses_a_step_without_the_amount():
    setup = _load("clock = 'tokens'\ntotal = '1Mtok'")
    built = setup.build(torch.nn.Linear(2, 2))
    before = [p.detach().clone() for p in built.optimizer.param_groups[0]["params"]]
    for p in built.optimizer.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    with pytest.raises(SpecError, match=r"^tokens: this setup's clock counts what each step"):
        built.step()
    after = built.optimizer.param_groups[0]["params"]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    built.step(tokens=4096)
    assert built.schedulers["lr"].consumed == 4096


def test_tokens_and_samples_together_are_a_spec_error_and_change_nothing():
    """It was a raw TypeError."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = ClockedScheduler(opt, "cosine", clock="tokens", total="1000tok", seq_len=2)
    with pytest.raises(SpecError) as e:
        sched.step(tokens=4, samples=2)
    assert e.value.path == "samples"
    assert sched.consumed == 0


def test_a_clocked_state_into_a_step_scheduler_is_refused():
    """Its consumed tokens were taken as steps without a word."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    clocked = ClockedScheduler(opt, "cosine", clock="tokens", total="1000tok")
    clocked.step(tokens=100)
    state = clocked.state_dict()
    plain = schedkit.get_scheduler(
        "cosine", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), total=1000
    )
    for load in (
        lambda: plain.load_state_dict(state),
        lambda: plain.load_state_dict(state, replan=True, allow_jump=True),
        lambda: plain.check_state(state),
        lambda: plain.check_replan(state),
    ):
        with pytest.raises(StateError) as e:
            load()
        assert e.value.path == "clock"
        assert "tokens" in str(e.value)
    assert plain.last_epoch == 0
