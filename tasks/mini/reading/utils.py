"""Scoring of the reading target: mini's 2-way classification rule."""

from promot_bench.tasks.mini.utils import classification_2way

__all__ = ["classification_2way"]
