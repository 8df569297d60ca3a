"""Decoder tuning: which letter floors it tries, and how the command line takes them."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from recognizer.training.__main__ import _floors
from recognizer.training.evaluate import Item, tune
from tests.recognizer.test_decoding import spell, tiny_model


def test_tuning_tries_only_the_floors_it_is_given(tmp_path: Path) -> None:
    items = [Item("i want the card", "ivr", spell("i", "want", "the", "card").astype(np.float32))]
    model = tiny_model(tmp_path)
    assert tune(items, model)[2:] == (-5.0, 0.0)
    assert tune(items, model, floors=(-7.0,))[2:] == (-7.0, 0.0)


def test_floors_on_the_command_line() -> None:
    assert _floors("-5,-7.5") == (-5.0, -7.5)
    for bad in ("5", "-5,x", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected negative floors"):
            _floors(bad)
