"""The fused Triton kernels of sketchkit.attention (``backend="triton"``) against the reference path.

Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``, set here before the kernel is
built). Triton is not a test dependency (~1 GB installed); these tests skip without it. To run them:
``pip install triton==3.9.0`` then ``.venv/bin/python -m pytest -q tests/test_attention_triton.py``.
"""

from __future__ import annotations

import math
import os

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from sketchkit.attention import exact_attention_lse, hyper_attention  # noqa: E402
from sketchkit.attention._triton import gathered_attention_lse, triton_available  # noqa: E402
from sketchkit.errors import InvalidParameterError  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernel is built (lazily, on first use)
needs_triton = pytest.mark.skipif(not triton_available(), reason="triton is not installed")
SMALL = dict(block_size=16, query_block=16, top_blocks=2, sample_size=16, min_seq_len=32)


def gathered_inputs(seed=0, g=2, t=3, bq=12, d=16, dv=8, n=50, length=37):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(g, t, bq, d, generator=gen)
    k = torch.randn(g, n, d, generator=gen)
    v = torch.randn(g, n, dv, generator=gen)
    idx = torch.randint(0, n, (g, t, length), generator=gen)  # repeats included
    bias = torch.randn(g, t, length, generator=gen)
    bias[0, 1, :5] = -math.inf  # some entries dropped
    bias[1, 2, :] = -math.inf  # a query block with no key at all
    return q, k, v, idx, bias


def reference(q, k, v, idx, bias):
    ks = torch.stack([k[i][idx[i]] for i in range(k.shape[0])])
    vs = torch.stack([v[i][idx[i]] for i in range(v.shape[0])])
    return exact_attention_lse(q, ks, vs, key_bias=bias, backend="torch")


@needs_triton
@pytest.mark.parametrize("with_bias", [True, False])
def test_gathered_kernel_matches_attention_over_the_gathered_keys(with_bias):
    """Query blocks of 12 rows (padded to 16 in the kernel), 37 keys per block (tiles of 32), d 16, dv 8."""
    q, k, v, idx, bias = gathered_inputs()
    bias = bias if with_bias else None
    out, lse = gathered_attention_lse(*(x.to(DEVICE) for x in (q, k, v, idx)),
                                      None if bias is None else bias.to(DEVICE))
    ref_out, ref_lse = reference(q, k, v, idx, bias)
    assert torch.allclose(out.cpu(), ref_out, atol=1e-5, rtol=1e-5)
    assert torch.equal(torch.isinf(lse.cpu()), torch.isinf(ref_lse))  # the empty block: lse -inf, out 0
    finite = torch.isfinite(ref_lse)
    assert torch.allclose(lse.cpu()[finite], ref_lse[finite], atol=1e-5, rtol=1e-5)


@needs_triton
def test_gathered_kernel_takes_bfloat16_inputs():
    """bf16 rows are loaded and multiplied in float32 (TF32 on a GPU); the output is rounded to bf16."""
    q, k, v, idx, bias = (x.bfloat16() if x.is_floating_point() else x for x in gathered_inputs(seed=3))
    out, lse = gathered_attention_lse(*(x.to(DEVICE) for x in (q, k, v, idx, bias)))
    ref_out, ref_lse = reference(q.float(), k.float(), v.float(), idx, bias.float())
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.cpu().float(), ref_out, atol=2e-2, rtol=2e-2)
    finite = torch.isfinite(ref_lse)
    assert torch.allclose(lse.cpu()[finite], ref_lse[finite], atol=2e-2, rtol=1e-2)


@needs_triton
def test_the_kernel_check_detects_a_wrong_scale():
    q, k, v, idx, bias = gathered_inputs(seed=1)
    out, _ = gathered_attention_lse(*(x.to(DEVICE) for x in (q, k, v, idx, bias)), scale=0.9 / 4)
    assert not torch.allclose(out.cpu(), reference(q, k, v, idx, bias)[0], atol=1e-5, rtol=1e-5)


@needs_triton
@pytest.mark.parametrize("n, causal", [(300, False), (256, False), (200, True)])
def test_hyper_attention_triton_backend_equals_the_reference_backend(n, causal):
    """Same seed, same plan: the fused kernel replaces the gathered blocks and samples (300: a padded tree)."""
    gen = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(1, 2, n, 16, generator=gen) for _ in range(3))
    with torch.no_grad():
        out, lse = hyper_attention(*(x.to(DEVICE) for x in (q, k, v)), causal=causal, rng=1, return_lse=True,
                                   backend="triton", **SMALL)
        ref, ref_lse = hyper_attention(q, k, v, causal=causal, rng=1, return_lse=True, backend="torch", **SMALL)
    assert torch.allclose(out.cpu(), ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(lse.cpu(), ref_lse, atol=1e-5, rtol=1e-5)


def loss_grads(fn, q, k, v, seed=5):
    """Gradients of ``sum(out * g_out) + sum(lse * g_lse)`` (random cotangents) w.r.t. ``q, k, v``."""
    qq, kk, vv = (x.clone().to(DEVICE).requires_grad_() for x in (q, k, v))
    out, lse = fn(qq, kk, vv)
    gen = torch.Generator().manual_seed(seed)
    g_out, g_lse = torch.randn(out.shape, generator=gen), torch.randn(lse.shape, generator=gen)
    ((out * g_out.to(out.device)).sum() + (lse * g_lse.to(lse.device)).sum()).backward()
    return [x.grad.cpu() for x in (qq, kk, vv)]


@needs_triton
def test_gathered_kernel_gradients_match_autograd_of_the_reference():
    """dQ, dK, dV (the LSE's gradient included), with key rows repeated inside one tile and across blocks."""
    q, k, v, idx, bias = gathered_inputs(seed=2)
    idx[0, 0, :8] = 3
    bias[1, 2, :] = 0.0  # no all-dropped block here: autograd of the reference gives NaN for it
    got = loss_grads(lambda a, b, c: gathered_attention_lse(a, b, c, idx.to(DEVICE), bias.to(DEVICE)), q, k, v)
    ref = loss_grads(lambda a, b, c: reference(a, b, c, idx, bias), q, k, v)
    for a, b in zip(got, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


@needs_triton
def test_the_gradient_check_detects_a_kernel_that_drops_the_lse_gradient():
    q, k, v, idx, bias = gathered_inputs(seed=2)
    bias[1, 2, :] = 0.0

    def no_lse_grad(a, b, c):
        out, lse = gathered_attention_lse(a, b, c, idx.to(DEVICE), bias.to(DEVICE))
        return out, lse.detach()

    got = loss_grads(no_lse_grad, q, k, v)
    ref = loss_grads(lambda a, b, c: reference(a, b, c, idx, bias), q, k, v)
    assert not torch.allclose(got[0], ref[0], atol=1e-5, rtol=1e-5)


@needs_triton
@pytest.mark.parametrize("n, causal", [(300, False), (200, True)])
def test_hyper_attention_triton_gradients_equal_the_reference_backend(n, causal):
    gen = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(1, 2, n, 16, generator=gen) for _ in range(3))

    def run(backend):
        return lambda a, b, c: hyper_attention(a, b, c, causal=causal, rng=1, return_lse=True, backend=backend,
                                               **SMALL)

    for a, b in zip(loss_grads(run("triton"), q, k, v), loss_grads(run("torch"), q, k, v)):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_backend_names_are_checked():
    q = torch.randn(1, 1, 64, 16)
    with pytest.raises(InvalidParameterError):
        hyper_attention(q, q, q, rng=0, backend="cuda")
