"""A plugin for the tests: ``test-slow``, the labels-only loss (its numbers are those of
``none``), which sleeps ``KDBENCH_TEST_SLOW`` seconds per step where that variable is set, so a
test can kill the worker that runs it mid-job (tests/test_cluster.py)."""

import os
import time
from dataclasses import dataclass

from kdbench.distill import METHODS, Method
from kdbench.distill.kd import labelled_ce


@dataclass(frozen=True)
class Slow(Method):
    needs_teacher = False

    def make_loss(self, teacher_probs):
        pause = float(os.environ.get("KDBENCH_TEST_SLOW", "0"))

        def loss(logits, labels, index, progress):
            time.sleep(pause)
            return labelled_ce(logits, labels)
        return loss


@METHODS.register("test-slow")
def slow() -> Method:
    return Slow()
