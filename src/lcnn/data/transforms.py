"""Image augmentation written with torch operations (random crop with zero padding, horizontal flip).

Each transform takes one image tensor ``(C, H, W)`` (any leading dimensions get the same crop or
flip) and returns a new tensor. Randomness comes from torch's global generator unless a
``torch.Generator`` is given. DataLoader seeds the global generator of each worker differently, so
workers draw different crops. A given generator is copied into every worker process, where all
copies repeat the same draws, so pass one only for single-process loading or tests.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "cifar10_augmentation", "crop", "horizontal_flip"]


def horizontal_flip(image: torch.Tensor) -> torch.Tensor:
    """Mirror ``image (..., H, W)`` left to right: column ``j`` becomes column ``W - 1 - j``."""
    return image.flip(-1)


def crop(image: torch.Tensor, top: int, left: int, height: int, width: int, *, padding: int = 0) -> torch.Tensor:
    """Cut a ``height x width`` window out of ``image (..., H, W)`` after zero-padding every side.

    Args:
        image: tensor ``(..., H, W)``.
        top: first row of the window in the padded image, ``0 <= top <= H + 2 * padding - height``.
        left: first column of the window in the padded image, ``0 <= left <= W + 2 * padding - width``.
        height: window height > 0.
        width: window width > 0.
        padding: zeros added on each of the four sides, >= 0.

    Returns:
        Tensor ``(..., height, width)``.

    Raises:
        ValueError: the window does not fit inside the padded image.
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}.")
    padded_height = image.shape[-2] + 2 * padding
    padded_width = image.shape[-1] + 2 * padding
    if not (0 <= top <= padded_height - height and 0 <= left <= padded_width - width and height > 0 and width > 0):
        raise ValueError(
            f"crop window (top={top}, left={left}, height={height}, width={width}) does not fit in the padded "
            f"image of {padded_height}x{padded_width} (input {tuple(image.shape)}, padding {padding})."
        )
    if padding:
        image = F.pad(image, (padding, padding, padding, padding), mode="constant", value=0.0)
    return image[..., top : top + height, left : left + width]


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


class RandomCrop:
    """Crop a random ``size`` window after zero-padding each side by ``padding`` pixels.

    With ``size=32, padding=4`` on CIFAR-10 this is the standard shift augmentation: the image
    moves by up to 4 pixels in each direction and the uncovered border is black.

    Args:
        size: output ``(height, width)``, or one int for a square.
        padding: zero pixels added on each side before cropping, >= 0.
        generator: torch generator for the random offsets; None uses the global one.

    Raises:
        ValueError: a size is not positive, or ``padding`` is negative.
    """

    def __init__(self, size: int | Sequence[int], *, padding: int = 0, generator: torch.Generator | None = None):
        self.size = _pair(size)
        if min(self.size) <= 0:
            raise ValueError(f"size must be positive, got {size}.")
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}.")
        self.padding = padding
        self.generator = generator

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Map ``(..., H, W) -> (..., height, width)``.

        Raises:
            ValueError: the padded image is smaller than the crop size.
        """
        height, width = self.size
        max_top = image.shape[-2] + 2 * self.padding - height
        max_left = image.shape[-1] + 2 * self.padding - width
        if max_top < 0 or max_left < 0:
            raise ValueError(
                f"RandomCrop of {height}x{width} does not fit in the input {tuple(image.shape)} padded by {self.padding}."
            )
        top = int(torch.randint(0, max_top + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, max_left + 1, (1,), generator=self.generator))
        return crop(image, top, left, height, width, padding=self.padding)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left to right with probability ``p``.

    Args:
        p: flip probability in ``[0, 1]``.
        generator: torch generator for the coin flips; None uses the global one.

    Raises:
        ValueError: ``p`` is outside ``[0, 1]``.
    """

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p}.")
        self.p = p
        self.generator = generator

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Map ``(..., H, W) -> (..., H, W)``, mirrored or an unchanged copy."""
        if float(torch.rand((), generator=self.generator)) < self.p:
            return horizontal_flip(image)
        return image.clone()

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms one after another.

    Args:
        transforms: callables mapping a tensor to a tensor, applied in order.
    """

    def __init__(self, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]):
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self) -> str:
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"Compose([{inner}])"


def cifar10_augmentation(*, generator: torch.Generator | None = None) -> Compose:
    """Return the standard CIFAR-10 training augmentation.

    A random 32x32 crop of the image zero-padded by 4 pixels on each side, then a horizontal flip
    with probability 0.5.

    Args:
        generator: torch generator shared by both steps; None uses the global one.
    """
    return Compose([RandomCrop(32, padding=4, generator=generator), RandomHorizontalFlip(0.5, generator=generator)])
