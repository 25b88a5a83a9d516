"""The params schema: defaults load, and every kind of bad value is named clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import annotated_types
import pytest
from pydantic import BaseModel

from mnist_gan.core.config import OFFICIAL_MIRRORS, Params, ParamsError, load_params, parse_params


def test_repo_params_load_with_the_issue_defaults(raw: dict) -> None:
    params = parse_params(raw)
    assert params.data.mirrors == list(OFFICIAL_MIRRORS)
    assert params.data.files.train_images.md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert params.data.files.test_labels.md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    assert (params.train.batch_size, params.train.steps) == (32, 14400)
    assert (params.model.g_depth, params.model.d_depth, params.model.residual) == (0, 1, False)
    assert params.model.g_norm == "layer"
    assert (params.train.top_k, params.train.top_k_decay) == (0.4, 0.975)
    assert (params.train.log_every, params.train.sample_every) == (1000, 1000)
    assert (params.model.arch, params.model.z_dim, params.sample.count) == ("dcgan", 100, 10000)
    assert params.model.conditional and params.train.ema == 0.998
    assert params.train.g_adam.learning_rate == 0.0004  # read as a float, not a string
    assert (params.train.d_adam.beta_1, params.train.d_adam.beta_2) == (0.0, 0.99)


def _error(raw: dict) -> str:
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    return str(info.value)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train", "batch_size", -5, "train.batch_size = -5"),
        ("train", "batch_size", "big", "train.batch_size = 'big'"),
        ("train", "steps", 1.5, "train.steps = 1.5"),
        ("train", "steps", True, "train.steps = True"),
        ("train", "loss", 3, "train.loss = 3: Input should be a valid string"),
        ("train", "penalties", {"r1": -1.0}, "train.penalties.r1 = -1.0"),
        ("train", "penalties", {"r1": 1e9}, "train.penalties.r1 = 1000000000.0"),
        ("sample", "count", 0, "sample.count = 0: Input should be greater than or equal to 1"),
        ("evaluate", "coverage_threshold", 1.5, "evaluate.coverage_threshold = 1.5"),
    ],
)
def test_bad_value_names_key_value_and_rule(raw, section, key, value, expected) -> None:
    bad = copy.deepcopy(raw)
    bad[section][key] = value
    assert expected in _error(bad)


def test_unknown_key_is_named_as_a_possible_typo(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["batchsize"] = 64
    assert "train.batchsize: unknown key" in _error(bad)


def test_missing_file_entry_is_named(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    del bad["data"]["files"]["test_labels"]
    assert "data.files.test_labels: missing" in _error(bad)


@pytest.mark.parametrize("name", ["../escape.gz", "sub/file.gz", "..", "/etc/passwd", "a\\b.gz"])
def test_file_names_cannot_leave_their_folder(raw: dict, name: str) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["files"]["train_images"]["name"] = name
    assert "data.files.train_images.name" in _error(bad)
    assert "plain file name" in _error(bad)


def test_md5_must_be_32_hex_digits(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["files"]["train_images"]["md5"] = "abc"
    assert "data.files.train_images.md5 = 'abc'" in _error(bad)


@pytest.mark.parametrize("mirror", ["ftp://example.org/mnist/", "s3://bucket/mnist"])
def test_unsupported_mirror_schemes_are_refused(raw: dict, mirror: str) -> None:
    bad = copy.deepcopy(raw)
    bad["data"]["mirrors"] = [mirror]
    assert "unsupported scheme" in _error(bad)


@pytest.mark.parametrize(
    ("key", "value"), [("min_bytes_per_second", -1), ("speed_window_seconds", 0)]
)
def test_the_download_speed_limit_is_bounded(raw: dict, key: str, value: float) -> None:
    """0 bytes/s turns the speed check off; a negative speed or an empty window is refused."""
    assert parse_params({**raw, "data": {**raw["data"], "min_bytes_per_second": 0}})
    bad = copy.deepcopy(raw)
    bad["data"][key] = value
    assert f"data.{key} = {value}" in _error(bad)


def test_every_error_is_reported_at_once(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["batch_size"] = 0
    bad["sample"]["count"] = -1
    message = _error(bad)
    assert "2 invalid parameter(s)" in message
    assert "train.batch_size" in message
    assert "sample.count" in message


def test_unreadable_and_non_yaml_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)
    broken.write_text("- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(broken)


def test_no_value_key_or_count_of_problems_makes_the_message_long(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["seed"] = "9" * 1_000_000  # a string where an int belongs
    bad["data"]["files"]["train_images"]["name"] = "a/" * 100_000
    bad["sample"]["k" * 100_000] = 1
    for index in range(5000):
        bad["evaluate"][f"typo_{index}"] = index
    message = _error(bad)
    assert "5003 invalid parameter(s)" in message
    assert "train.seed = '99999" in message and "(1,000,002 characters)" in message
    assert "data.files.train_images.name" in message and "plain file name" in message
    assert "... and 4983 more" in message
    assert len(message) < 10_000 and max(len(line) for line in message.splitlines()) < 700


UPPER_BOUNDS = (annotated_types.Le, annotated_types.Lt)


def _numeric_fields(model: type[BaseModel], prefix: str = ""):
    """(key, FieldInfo, annotation) of every int or float field, nested sections included."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _numeric_fields(annotation, f"{prefix}{name}.")
        elif annotation in (int, float):
            yield f"{prefix}{name}", info


def test_every_number_in_the_schema_has_an_upper_bound() -> None:
    """A param that sizes memory or time cannot be set past a limit (penalty weights,
    dict values, are bounded too: see test_bad_value_names_key_value_and_rule)."""
    unbounded = [
        key
        for key, info in _numeric_fields(Params)
        if not any(
            isinstance(rule, (annotated_types.Le, annotated_types.Lt)) for rule in info.metadata
        )
    ]
    assert unbounded == []
    assert len(list(_numeric_fields(Params))) > 40  # the walk reaches every section


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "batch_size", 100_000),
        ("sample", "count", 8_000_000),
        ("model", "g_width", 4096),
        ("evaluate", "kid_subsets", 10**9),
        ("train", "seed", -1),
    ],
)
def test_values_past_their_limit_are_refused_with_the_limit(raw, section, key, value) -> None:
    bad = copy.deepcopy(raw)
    bad[section][key] = value
    message = _error(bad)
    assert f"{section}.{key} = {value}" in message
    assert "less than or equal to" in message or "greater than or equal to" in message


def test_records_that_grow_with_steps_are_bounded(raw: dict) -> None:
    """Grids, loss records and probes all grow with train.steps over their period: a
    valid maximum steps with a valid minimum period is refused, naming the fix."""
    bad = copy.deepcopy(raw)
    bad["train"].update(steps=10_000_000, sample_every=1, log_every=10, checkpoint_every=10)
    message = _error(bad)
    assert "train.steps / train.sample_every = 10,000,000 / 1 gives 10,000,000 records" in message
    assert "raise train.sample_every to at least 10,000" in message
    assert len(message.splitlines()) == 2
    bad["train"].update(sample_every=10_000, log_every=100, checkpoint_every=100, eval_every=10_000)
    Params.model_validate(bad)
