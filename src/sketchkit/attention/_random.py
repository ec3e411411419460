"""The one way randomness enters this package: an explicit ``rng`` (int seed or ``torch.Generator``)."""

from __future__ import annotations

import torch

from ..errors import InvalidParameterError


def as_generator(rng=None) -> torch.Generator:
    """A CPU ``torch.Generator`` from ``rng``: a generator is used as is, an int seeds a new one.

    ``None`` draws a seed from OS entropy (``sketchkit.hashing.random_seed``), never from torch's global state.

    >>> as_generator(7).initial_seed()
    7
    """
    if isinstance(rng, torch.Generator):
        return rng
    if rng is None:
        from ..hashing import random_seed

        rng = random_seed() & ((1 << 63) - 1)
    if isinstance(rng, bool) or not isinstance(rng, int):
        raise InvalidParameterError(f"rng must be an int seed or a torch.Generator, got {type(rng).__name__}")
    return torch.Generator().manual_seed(int(rng) & ((1 << 63) - 1))


def device_generator(gen: torch.Generator, device) -> torch.Generator:
    """A generator on ``device`` seeded from ``gen`` (itself when ``device`` is the CPU or ``gen`` is already on
    that device type), so that sampling runs where the tensors are without touching any global state. The seed is
    drawn from ``gen`` on the CPU: no device sync.

    >>> device_generator(torch.Generator().manual_seed(0), "cpu").device.type
    'cpu'
    """
    device = torch.device(device)
    if device.type == "cpu" or gen.device.type == device.type:
        return gen  # already where the tensors are
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    return torch.Generator(device=device).manual_seed(seed)
