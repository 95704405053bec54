"""The peer recipes run on one thread: the same float reductions in every process (a resume
runs in a fresh one), and far faster on a shared machine than contended threads."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
