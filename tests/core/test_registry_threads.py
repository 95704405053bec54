"""Concurrent first use: look-ups from many threads while a plugin is first imported, and
setups built from many threads in a fresh process, never fail."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_first_lookups_from_eight_threads_all_succeed():
    out = run(
        """
        import sys, threading
        import schedkit

        sys.setswitchinterval(1e-6)  # switch threads often: races show up every run
        from schedkit.registry import set_default_registry

        failures, calls = [], 0
        for _round in range(5):
            # a first use each round: a new registry, the plugin module not yet imported
            set_default_registry(None)
            sys.modules.pop("schedkit_clipping.norm", None)
            barrier = threading.Barrier(8)

            def lookup():
                barrier.wait()
                for _ in range(5):
                    try:
                        clipper = schedkit.get_clipper("norm", max_norm=1.0)
                        assert clipper.spec()["type"] == "norm"
                    except Exception as e:
                        failures.append(repr(e))

            threads = [threading.Thread(target=lookup) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            calls += 40
        print(len(failures), calls, failures[:3])
        """
    )
    assert out.startswith("0 200 "), out


def test_setups_built_from_eight_threads_in_a_fresh_process():
    out = run(
        """
        import sys
        import threading
        import tomllib
        import schedkit

        TOML = '''
        [run]
        total = 100
        [optimizer]
        type = "AdamW"
        lr = 1e-3
        weight_decay = 0.05
        [[rules]]
        type = "layer_decay"
        rate = 0.7
        [[rules]]
        type = "no_weight_decay"
        [schedules.lr]
        type = "cosine"
        warmup = 10
        [schedules.weight_decay]
        type = "linear"
        [clip]
        type = "adaptive"
        '''
        from schedkit._example import tiny_vit

        sys.setswitchinterval(1e-6)
        failures = []
        barrier = threading.Barrier(8)

        def build():
            barrier.wait()
            for _ in range(6):
                try:
                    setup = schedkit.load_setup(tomllib.loads(TOML))
                    built = setup.build(tiny_vit())
                    assert built.clipper is not None
                except Exception as e:
                    failures.append(repr(e))

        threads = [threading.Thread(target=build) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(len(failures), failures[:3])
        """
    )
    assert out.startswith("0 "), out
