"""Swap HyperAttention into chosen layers of a Hugging Face ``transformers`` model (needs ``transformers``).

Usage: ``use_hyper_attention(model, layers=[2, 3], rng=0)`` (see docs/attention.md).

How it works: a function ``"sketchkit_hyper"`` is registered in transformers' ``AttentionInterface`` and the
model is switched to it; the chosen layers' attention modules get a :class:`HyperAttention` child (no
parameters, so ``state_dict`` is unchanged). In every call the function uses HyperAttention when the module has
one *and* the call is a full self-attention: causal (decoders) or bidirectional (encoders such as BERT, whose
modules say ``is_causal = False``), no padding in the mask, as many queries as keys, no dropout; every other
call (other layers, padded batches, cached decoding steps) goes to transformers' own SDPA attention, so outputs
there are unchanged. Grouped-query heads are expanded as in ``repeat_kv``.
"""

from __future__ import annotations

import torch

from ..errors import InvalidParameterError
from ._module import HyperAttention

IMPLEMENTATION = "sketchkit_hyper"
_ATTR = "hyper_attention"


def _is_plain_causal(mask: torch.Tensor | None, n_q: int, n_k: int) -> bool:
    if mask is None:
        return True
    if mask.shape[-2:] != (n_q, n_k):
        return False
    allowed = mask if mask.dtype == torch.bool else mask > torch.finfo(mask.dtype).min / 2
    causal = torch.ones(n_q, n_k, dtype=torch.bool, device=mask.device).tril()
    return bool((allowed == causal).all())


def _is_plain_full(mask: torch.Tensor | None) -> bool:
    """No key masked (a bidirectional mask without padding)."""
    if mask is None:
        return True
    allowed = mask if mask.dtype == torch.bool else mask > torch.finfo(mask.dtype).min / 2
    return bool(allowed.all())


def _attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    hyper = getattr(module, _ATTR, None)
    n_q, n_k = query.shape[-2], key.shape[-2]
    causal = getattr(module, "is_causal", True)
    plain = _is_plain_causal(attention_mask, n_q, n_k) if causal else _is_plain_full(attention_mask)
    if hyper is None or dropout > 0 or n_q != n_k or not plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    out = hyper(query, key, value, causal=causal, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def use_hyper_attention(model, layers, rng=None, **params):
    """Route the self-attention of layers ``layers`` (indices) of ``model`` through HyperAttention.

    ``params`` are :func:`hyper_attention`'s (e.g. ``min_seq_len``, ``block_size``); ``rng`` seeds each layer's
    generator (layer ``i`` gets ``rng + i`` when ``rng`` is an int). Works for models whose attention modules
    call ``ALL_ATTENTION_FUNCTIONS`` (Llama, Mistral, Qwen2, ...; BERT-style encoders, non-causal). Returns the
    list of patched modules.
    Undo with :func:`remove_hyper_attention`.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(IMPLEMENTATION, _attention)
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)  # masks built exactly as for "sdpa"
    attn_modules = [m for m in model.modules() if hasattr(m, "layer_idx") and hasattr(m, "scaling")]
    by_layer = {m.layer_idx: m for m in attn_modules}
    missing = sorted(set(layers) - set(by_layer))
    if missing:
        raise InvalidParameterError(f"model has no attention layers {missing}; it has {sorted(by_layer)}")
    patched = []
    for i in layers:
        seed = rng + i if isinstance(rng, int) and not isinstance(rng, bool) else rng
        setattr(by_layer[i], _ATTR, HyperAttention(rng=seed, **params))
        patched.append(by_layer[i])
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(IMPLEMENTATION)
    else:  # older transformers
        model.config._attn_implementation = IMPLEMENTATION
    return patched


def remove_hyper_attention(model, implementation: str = "sdpa"):
    """Remove every HyperAttention swapped in by :func:`use_hyper_attention` and restore ``implementation``."""
    for m in model.modules():
        if isinstance(getattr(m, _ATTR, None), HyperAttention):
            delattr(m, _ATTR)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(implementation)
    else:
        model.config._attn_implementation = implementation
