"""A generator anyone can call: the Python API and `python -m mnist_gan generate`,
against the sample stage's own drawing, with one-line errors for bad requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.errors import InputFileError, ParamsError
from mnist_gan.drawing.sampling import fixed_latents, generate_pixels
from mnist_gan.networks.gan import build_gan, save_gan
from mnist_gan.serving.generate import latents, load_digit_generator
from tests.helpers import REPO_ROOT

SMALL = {"arch": "dcgan", "z_dim": 8, "g_width": 4, "d_width": 4}


def _saved(folder: Path, conditional: bool) -> Path:
    model = ModelConfig(conditional=conditional, **SMALL)
    save_gan(build_gan(model, ema=True), folder, {"model": model.model_dump()})
    return folder


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    return _saved(tmp_path_factory.mktemp("conditional"), conditional=True)


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory) -> Path:
    return _saved(tmp_path_factory.mktemp("unconditional"), conditional=False)


def test_generate_draws_the_asked_digits_as_the_sample_stage_would(conditional) -> None:
    generator = load_digit_generator(conditional)
    pixels = generator.generate(digits=[0, 1, 7], seed=5)
    assert pixels.shape == (3, 28, 28) and pixels.dtype == np.uint8
    expected = generate_pixels(
        generator.network, fixed_latents(5, 3, 8), np.array([0, 1, 7], np.int32)
    )
    np.testing.assert_array_equal(pixels, expected)
    np.testing.assert_array_equal(generator.generate(digits=[0, 1, 7], seed=5), pixels)
    assert not np.array_equal(generator.generate(digits=[0, 1, 7], seed=6), pixels)
    assert generator.generate(count=12).shape == (12, 28, 28)


def test_digits_with_a_count_draw_that_many_of_each_digit_in_turn(conditional) -> None:
    """digits=[0, 7], count=3 is 0, 0, 0, 7, 7, 7, from the seed's first six latents."""
    generator = load_digit_generator(conditional)
    pixels = generator.generate(digits=[0, 7], count=3, seed=5)
    labels = np.array([0, 0, 0, 7, 7, 7], np.int32)
    expected = generate_pixels(generator.network, fixed_latents(5, 6, 8), labels)
    np.testing.assert_array_equal(pixels, expected)
    eights = generator.generate(digits=[7], count=8, seed=5)
    assert eights.shape == (8, 28, 28)
    np.testing.assert_array_equal(
        eights, generate_pixels(generator.network, fixed_latents(5, 8, 8), np.full(8, 7, np.int32))
    )


def test_truncated_latents_stay_within_the_bound_and_keep_the_seed() -> None:
    z = latents(3, 500, 8, truncation=0.5)
    assert np.abs(z).max() <= 0.5 and z.dtype == np.float32
    np.testing.assert_array_equal(z, latents(3, 500, 8, truncation=0.5))
    np.testing.assert_array_equal(latents(3, 4, 8), fixed_latents(3, 4, 8))
    assert z.std() < 0.35  # narrower than N(0, 1)


def test_a_walk_starts_and_ends_at_the_two_seeds_images(conditional) -> None:
    generator = load_digit_generator(conditional)
    walk = generator.interpolate(2, 9, steps=5, digit=4)
    assert walk.shape == (5, 28, 28)
    np.testing.assert_array_equal(walk[0], generator.generate(digits=[4], seed=2)[0])
    np.testing.assert_array_equal(walk[-1], generator.generate(digits=[4], seed=9)[0])


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"digits": [3, 12]}, "digits must be 0..9, got [12]"),
        ({"count": 10**12}, "count must be 1..100,000, got 1,000,000,000,000"),
        ({"count": 0}, "count must be 1..100,000, got 0"),
        ({"digits": [0, 7], "count": 60_000}, "2 digits x count 60,000 = 120,000 images"),
        ({"digits": []}, "no digits asked for"),
        ({"truncation": 0.0}, "truncation must be in [0.1, 4.0]"),
    ],
)
def test_bad_requests_are_one_line_errors(conditional, request_, message) -> None:
    with pytest.raises(ParamsError) as error:
        load_digit_generator(conditional).generate(**request_)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_unconditional_model_cannot_be_asked_for_digits(unconditional) -> None:
    generator = load_digit_generator(unconditional)
    assert generator.generate(count=3).shape == (3, 28, 28)
    with pytest.raises(ParamsError, match="unconditional"):
        generator.generate(digits=[1])
    with pytest.raises(ParamsError, match="unconditional"):
        generator.interpolate(0, 1, digit=1)
    assert generator.interpolate(0, 1, steps=3).shape == (3, 28, 28)


def test_a_missing_model_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"gan\.json: cannot be read"):
        load_digit_generator(tmp_path / "nowhere")


def _cli(
    *args: str, command: tuple[str, ...] = (sys.executable, "-m", "mnist_gan")
) -> subprocess.CompletedProcess:
    """`<command> generate <args>` in its own process (`python -m mnist_gan` unless
    `command` names another way in, such as the installed script)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    return subprocess.run(
        [*command, "generate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_command_writes_grids_and_arrays_and_refuses_bad_requests(
    conditional, unconditional, tmp_path: Path
) -> None:
    grid = tmp_path / "digits.png"
    done = _cli("--model", str(conditional), "--digits", "0,1,7", "--out", str(grid))
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(grid) as image:
        assert image.size == (4 * (3 * 30 + 2), 4 * (30 + 2))
    array = tmp_path / "walk.npy"
    done = _cli("--model", str(conditional), "--interpolate", "1", "2", "--steps", "4",
                "--out", str(array))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.load(array, allow_pickle=False).shape == (4, 28, 28)

    for args, message in [
        (("--model", str(tmp_path / "none")), "gan.json: cannot be read"),
        (("--model", str(conditional), "--digits", "3,11"), "digits must be 0..9, got [11]"),
        (("--model", str(unconditional), "--digits", "1"), "model is unconditional"),
        (("--model", str(conditional), "--digits", "1"), "--out must end in .png or .npy"),
    ]:
        out = "x.txt" if "--out must" in message else str(tmp_path / "x.png")
        failed = _cli(*args, "--out", out)
        assert failed.returncode == 2, failed.stderr[-2000:]
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], failed.stderr[-2000:]
        assert "Traceback" not in failed.stderr


@pytest.mark.slow
def test_the_installed_console_script_draws_the_same_digits(conditional, tmp_path: Path) -> None:
    """`make install` installs the project (editable), which gives `mnist-gan`."""
    script = Path(sys.executable).parent / "mnist-gan"
    assert script.exists(), "the project is not installed: run `make install`"
    out = tmp_path / "digits.npy"
    done = _cli("--model", str(conditional), "--digits", "4,2", "--out", str(out),
                command=(str(script),))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    expected = load_digit_generator(conditional).generate(digits=[4, 2], seed=0)
    np.testing.assert_array_equal(np.load(out, allow_pickle=False), expected)

    # The installed command also turns a user error into one line and exit 2.
    failed = _cli("--model", str(conditional), "--out", "x.txt", command=(str(script),))
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert failed.returncode == 2 and len(errors) == 1, failed.stderr[-2000:]
    assert "--out must end in .png or .npy" in errors[0] and "Traceback" not in failed.stderr


@pytest.mark.slow
def test_digits_with_a_count_on_the_command_line_give_one_row_per_digit(
    conditional, tmp_path: Path
) -> None:
    """--digits 7 --count 8 is eight 7s; --digits 0,7 --count 3 a grid of two rows of
    three, each row one digit."""
    array = tmp_path / "sevens.npy"
    done = _cli("--model", str(conditional), "--digits", "7", "--count", "8", "--out", str(array))
    assert done.returncode == 0, done.stderr[-2000:]
    expected = load_digit_generator(conditional).generate(digits=[7], count=8, seed=0)
    np.testing.assert_array_equal(np.load(array, allow_pickle=False), expected)

    grid = tmp_path / "grid.png"
    done = _cli("--model", str(conditional), "--digits", "0,7", "--count", "3", "--out", str(grid))
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(grid) as image:
        assert image.size == (4 * (3 * 30 + 2), 4 * (2 * 30 + 2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--count", str(10**12)), "count must be 1..100,000, got 1,000,000,000,000"),
        (("--digits", "0,7", "--count", "60000"), "2 digits x count 60,000 = 120,000 images"),
        (("--count", "5000"), "a .png grid holds at most 1,000 images"),
        (("--interpolate", "1", "2", "--steps", str(10**9)), "steps must be 2..1000"),
    ],
)
@pytest.mark.slow
def test_a_huge_count_is_refused_before_the_model_is_even_read(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """The request is checked first, so the error is about the count, not the missing
    model folder, and comes in one line without allocating anything for it."""
    started = time.monotonic()
    failed = _cli("--model", str(tmp_path / "nowhere"), *args, "--out", str(tmp_path / "x.png"))
    seconds = time.monotonic() - started
    assert failed.returncode == 2, failed.stderr[-2000:]
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr and not (tmp_path / "x.png").exists()
    assert seconds < 60  # start-up only: importing TensorFlow
