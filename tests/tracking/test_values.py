"""The ``a`` rules: one classifier for dataset code ``a`` and automatic logging."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelinex_mlflow.tracking import (
    AUTO,
    STRICT,
    UnloggableValueError,
    classify,
    flatten_dict,
    is_number,
    split_by_kind,
)


class TestIsNumber:
    @pytest.mark.parametrize(
        "value", [3, 2.5, float("nan"), np.int64(3), np.float32(1.5), np.array(2.0)]
    )
    def test_numbers(self, value: Any) -> None:
        assert is_number(value)

    @pytest.mark.parametrize(
        "value",
        [True, np.bool_(True), np.array(True), "3", None, [1], np.array([1.0]), 1j],
    )
    def test_not_numbers(self, value: Any) -> None:
        assert not is_number(value)


class TestClassify:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (3, ("metric", 3.0)),
            (np.float64(0.5), ("metric", 0.5)),
            # The README: bools are params; numpy's bool is a bool.
            (True, ("param", True)),
            (np.bool_(False), ("param", False)),
            ("rf", ("param", "rf")),
            (None, ("param", None)),
            ((1, "a"), ("param", (1, "a"))),
            ({2, 1}, ("param", {1, 2})),
            ([np.int64(1), np.float64(2.5), np.bool_(True)], ("param", [1, 2.5, True])),
            ([[1, 2], ["a"]], ("param", [[1, 2], ["a"]])),
        ],
    )
    def test_plain_values(self, value: Any, expected: tuple[str, Any]) -> None:
        kind, plain = classify(value)
        assert (kind, plain) == expected
        assert type(plain) is type(expected[1])

    def test_numpy_scalars_become_python_scalars(self) -> None:
        _, plain = classify([np.int64(1), np.float64(0.5), np.bool_(True)])
        assert [type(item) for item in plain] == [int, float, bool]
        assert str(plain) == "[1, 0.5, True]"

    def test_sets_of_sets_are_plain(self) -> None:
        _, plain = classify({frozenset({1}), 2})
        assert plain == {frozenset({1}), 2}

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (pd.DataFrame({"a": [1]}), "DataFrame"),
            ([pd.DataFrame({"a": [1]})], "a list holding DataFrame"),
            (np.array([1.0, 2.0]), "ndarray"),
            (object(), "object"),
            ({}, "dict"),
        ],
    )
    def test_other_values_are_neither(self, value: Any, reason: str) -> None:
        for rules in (STRICT, AUTO):
            with pytest.raises(UnloggableValueError, match=reason):
                classify(value, rules)

    def test_strict_has_no_size_caps(self) -> None:
        assert classify("x" * 5000, STRICT) == ("param", "x" * 5000)
        assert classify(list(range(500)), STRICT) == ("param", list(range(500)))

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("x" * 1001, "text of 1001 characters"),
            (list(range(101)), "a list of 101 items"),
            (["y" * 1000] * 7, "longer than 6000 characters"),
        ],
    )
    def test_auto_caps_sizes(self, value: Any, reason: str) -> None:
        with pytest.raises(UnloggableValueError, match=reason):
            classify(value, AUTO)


class TestSplitByKind:
    def test_a_dict_is_split_leaf_by_leaf(self) -> None:
        split = split_by_kind(
            "cfg",
            {"depth": 3, "name": "rf", "ok": np.bool_(True), "df": pd.DataFrame()},
        )
        assert split.metrics == {"cfg.depth": 3.0}
        assert split.params == {"cfg.name": "rf", "cfg.ok": True}
        assert split.skipped == {"cfg.df": "DataFrame"}

    def test_an_empty_key_uses_the_dicts_own_keys(self) -> None:
        split = split_by_kind("", {"lr": 0.1})
        assert split.metrics == {"lr": 0.1}

    def test_auto_skips_a_huge_dict_whole(self) -> None:
        split = split_by_kind("big", {str(i): i for i in range(1001)}, AUTO)
        assert (split.params, split.metrics) == ({}, {})
        assert "1001 leaves" in split.skipped["big"]
        assert (
            len(split_by_kind("big", {str(i): i for i in range(1001)}, STRICT).metrics)
            == 1001
        )


class TestFlatten:
    def test_flatten_keeps_empty_dicts_and_uses_separator(self) -> None:
        assert flatten_dict({"a": {"b": {"c": 1}, "d": {}}}, sep="/") == {
            "a/b/c": 1,
            "a/d": {},
        }
