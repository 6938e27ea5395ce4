"""The learning-rate schedule of training/train.py: linear warmup, then cosine to a tenth.

Kept apart from the loop because the schedule is sized by the time budget while the run goes
(`replan`), which is the part of training most worth reading on its own.
"""

from __future__ import annotations

import argparse
import math


def lr_at(step: int, total: int, args: argparse.Namespace) -> float:
    """Linear warmup, then cosine from --lr down to --lr / 10 at `total` steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def replan(args: argparse.Namespace, state: dict, segment_steps: int) -> bool:
    """Without --max-steps the cosine schedule is sized to --max-minutes from the measured pace
    (evaluation included): after 20 steps, then every 50 while less than 60 % of it is done, so
    a machine that gets faster or slower mid-run (other jobs come and go) still ends annealed
    near the budget instead of stopping early or cut off at a high learning rate."""
    if args.max_steps or not args.max_minutes:
        return False
    if state["total"] and state["step"] >= 0.6 * state["total"]:
        return False
    return segment_steps == 20 or (segment_steps > 20 and segment_steps % 50 == 0)
