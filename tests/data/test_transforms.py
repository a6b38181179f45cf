"""Tests of lcnn.data.transforms: crop and flip against index arithmetic, and their randomness."""

from __future__ import annotations

import pytest
import torch

from lcnn.data.transforms import (
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    cifar10_augmentation,
    crop,
    horizontal_flip,
)


def ramp_image(channels: int = 3, height: int = 32, width: int = 32) -> torch.Tensor:
    """Image whose every pixel value is unique and positive, so shifts and mirrors are identifiable."""
    return torch.arange(1, channels * height * width + 1, dtype=torch.float32).reshape(channels, height, width)


def find_offset(output: torch.Tensor, image: torch.Tensor, padding: int) -> tuple[int, int]:
    """Return the (top, left) window of the zero-padded image equal to ``output``, by brute force."""
    padded = torch.zeros(image.shape[0], image.shape[1] + 2 * padding, image.shape[2] + 2 * padding)
    padded[:, padding : padding + image.shape[1], padding : padding + image.shape[2]] = image
    height, width = output.shape[-2:]
    matches = [
        (top, left)
        for top in range(padded.shape[1] - height + 1)
        for left in range(padded.shape[2] - width + 1)
        if torch.equal(padded[:, top : top + height, left : left + width], output)
    ]
    assert len(matches) == 1, f"expected exactly one matching window, found {matches}"
    return matches[0]


def test_horizontal_flip_reverses_columns():
    image = ramp_image(2, 3, 5)
    flipped = horizontal_flip(image)
    for column in range(5):
        assert torch.equal(flipped[..., column], image[..., 4 - column])
    assert not torch.equal(flipped, image)
    assert torch.equal(horizontal_flip(flipped), image)


def test_crop_with_padding_values():
    image = ramp_image(1, 4, 4)
    window = crop(image, 0, 0, 4, 4, padding=2)
    # Top-left window of the padded image: two rows and two columns of zeros, then image[0:2, 0:2].
    assert torch.equal(window[0, :2], torch.zeros(2, 4))
    assert torch.equal(window[0, :, :2], torch.zeros(4, 2))
    assert torch.equal(window[0, 2:, 2:], image[0, :2, :2])
    assert torch.equal(crop(image, 2, 2, 4, 4, padding=2), image)


def test_crop_rejects_window_outside():
    with pytest.raises(ValueError, match=r"crop window \(top=5, left=0, height=4, width=4\) does not fit"):
        crop(ramp_image(1, 4, 4), 5, 0, 4, 4, padding=2)
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        crop(ramp_image(1, 4, 4), 0, 0, 2, 2, padding=-1)


def test_random_crop_shape_and_window():
    image = ramp_image()
    transform = RandomCrop(32, padding=4, generator=torch.Generator().manual_seed(0))
    for _ in range(20):
        output = transform(image)
        assert output.shape == (3, 32, 32)
        top, left = find_offset(output, image, padding=4)
        assert 0 <= top <= 8
        assert 0 <= left <= 8


def test_random_crop_covers_all_offsets():
    image = ramp_image(1, 6, 6)
    transform = RandomCrop(6, padding=4, generator=torch.Generator().manual_seed(1))
    offsets = {find_offset(transform(image), image, padding=4) for _ in range(800)}
    assert {top for top, _ in offsets} == set(range(9))
    assert {left for _, left in offsets} == set(range(9))


def test_random_crop_seeded_generator_repeats():
    image = ramp_image()
    first = RandomCrop(32, padding=4, generator=torch.Generator().manual_seed(7))
    second = RandomCrop(32, padding=4, generator=torch.Generator().manual_seed(7))
    for _ in range(5):
        assert torch.equal(first(image), second(image))


def test_random_crop_rectangular_size():
    output = RandomCrop((20, 10))(ramp_image(3, 28, 28))
    assert output.shape == (3, 20, 10)


def test_random_crop_invalid_settings():
    with pytest.raises(ValueError, match="size must be positive"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="padding must be >= 0, got -2"):
        RandomCrop(32, padding=-2)
    with pytest.raises(ValueError, match="RandomCrop of 40x40 does not fit"):
        RandomCrop(40, padding=2)(ramp_image())


def test_flip_probability_one_and_zero():
    image = ramp_image()
    assert torch.equal(RandomHorizontalFlip(1.0)(image), image.flip(-1))
    unchanged = RandomHorizontalFlip(0.0)(image)
    assert torch.equal(unchanged, image)
    unchanged.zero_()
    assert image.sum() > 0  # the unflipped output is a copy, not the input tensor


def test_flip_rate_near_half():
    image = ramp_image(1, 2, 2)
    transform = RandomHorizontalFlip(0.5, generator=torch.Generator().manual_seed(3))
    flips = sum(torch.equal(transform(image), image.flip(-1)) for _ in range(2000))
    assert 900 <= flips <= 1100


def test_flip_rejects_bad_probability():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1.5"):
        RandomHorizontalFlip(1.5)


def test_compose_applies_in_order():
    calls = []
    transform = Compose([lambda x: calls.append("a") or x + 1, lambda x: calls.append("b") or x * 2])
    assert torch.equal(transform(torch.ones(1)), torch.tensor([4.0]))
    assert calls == ["a", "b"]


def test_cifar10_augmentation_output():
    image = ramp_image()
    augment = cifar10_augmentation(generator=torch.Generator().manual_seed(0))
    outputs = [augment(image) for _ in range(50)]
    assert all(output.shape == (3, 32, 32) for output in outputs)
    mirrored = [output for output in outputs if output[0, 16, 17] < output[0, 16, 16]]
    assert 0 < len(mirrored) < 50  # the ramp grows left to right, so a decrease means a flip
    shifted = [output for output in outputs if (output == 0).any()]
    assert len(shifted) > 30  # most of the 81 offsets expose a zero border
    assert "RandomCrop(size=(32, 32), padding=4)" in repr(augment)
