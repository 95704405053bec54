"""The env holds what its tests compare against."""

import torch


def test_the_env_pins_the_cpu_torch() -> None:
    assert torch.__version__.startswith("2.13.0")
