"""rewardkit: exact, fast reward math for RL on language models (Rust core, NumPy in and out)."""

from ._native import *  # noqa: F401,F403
from ._native import __version__  # noqa: F401
