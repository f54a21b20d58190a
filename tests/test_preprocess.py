"""Colour steps of Algorithm 1 (grey-world colour constancy, magenta × saturation) against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from leukutils import preprocess


def test_colour_constancy_on_a_hand_made_image():
    # channel means: red 100, green 50, blue 150 → grey 100, gains 1, 2 and 2/3
    image = np.array([[[100, 40, 150], [100, 60, 150]],
                      [[100, 40, 120], [100, 60, 180]]], np.uint8)
    out = preprocess.colour_constancy(image)
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[..., 0], [[100, 100], [100, 100]])
    np.testing.assert_array_equal(out[..., 1], [[80, 120], [80, 120]])
    np.testing.assert_array_equal(out[..., 2], [[100, 100], [80, 120]])


def test_colour_constancy_clips_and_leaves_an_empty_channel_at_zero():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = [[250, 0], [0, 0]]     # red mean 62.5
    image[..., 1] = 0                      # green mean 0: stays 0
    image[..., 2] = 200                    # blue mean 200; grey (62.5 + 0 + 200) / 3 = 87.5
    out = preprocess.colour_constancy(image)
    assert out[0, 0, 0] == 255             # 250 × 87.5 / 62.5 = 350, clipped
    assert (out[..., 1] == 0).all()
    assert (out[..., 2] == 87).all()       # 200 × 87.5 / 200, floored


def test_colour_constancy_fast_path_equals_the_definition_within_one_grey_level():
    """The look-up-table path against the grey-world formula in float64: at most 1 grey level apart
    (float32 gains round differently at exact integer boundaries)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
        image[..., rng.integers(3)] //= 3                     # an unbalanced cast
        means = image.reshape(-1, 3).mean(axis=0)
        expected = np.floor(np.clip(image * (means.mean() / means), 0, 255))
        difference = np.abs(preprocess.colour_constancy(image).astype(float) - expected)
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_nucleus_enhancement_on_hand_made_pixels():
    # (R, G, B): magenta (max − G) / max, saturation (max − min) / max
    pixels = np.array([[[200, 100, 250],   # 0.6 × 0.6 = 0.36
                        [255, 0, 255],     # pure magenta: 1 × 1
                        [128, 128, 128],   # grey: 0
                        [0, 0, 0],         # black: 0
                        [0, 255, 0],       # green: magenta 0
                        [100, 50, 200]]],  # 0.75 × 0.75 = 0.5625
                      np.uint8)
    exact = np.array([[0.36, 1.0, 0.0, 0.0, 0.0, 0.5625]])
    fast = preprocess.nucleus_enhancement(pixels, as_uint8=True)
    assert fast.dtype == np.uint8
    np.testing.assert_array_equal(fast, [[92, 255, 0, 0, 0, 143]])   # round(255 × exact)
    floating = preprocess.nucleus_enhancement(pixels)
    assert floating.dtype == np.float32
    # saturation is OpenCV's 8-bit one: off by at most half a grey level (times magenta ≤ 1)
    np.testing.assert_allclose(floating, exact, atol=0.5 / 255 + 1e-6)


def test_nucleus_enhancement_uint8_and_float_agree_within_one_grey_level():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    fast = preprocess.nucleus_enhancement(image, as_uint8=True).astype(float)
    reference = 255 * preprocess.nucleus_enhancement(image).astype(float)
    assert np.abs(fast - reference).max() <= 1.0


@pytest.mark.parametrize("function", [preprocess.colour_constancy, preprocess.nucleus_enhancement])
def test_colour_steps_reject_non_rgb_and_non_uint8(function):
    with pytest.raises(ValueError, match="RGB"):
        function(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        function(np.zeros((4, 4, 3), np.float32))
