"""HyperAttention swapped into chosen layers of a randomly initialised small Llama (no download)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

from sketchkit.attention import HyperAttention  # noqa: E402
from sketchkit.attention.hf import remove_hyper_attention, use_hyper_attention  # noqa: E402
from sketchkit.errors import InvalidParameterError  # noqa: E402


def _tiny(model_class, config, n_tokens):
    """A float64 model in eval mode on SDPA attention, and 2 sequences of ``n_tokens`` random token ids."""
    torch.manual_seed(0)  # model initialisation only (transformers draws from torch's global generator)
    model = model_class(config).double().eval()
    model.set_attn_implementation("sdpa")
    ids = torch.randint(0, config.vocab_size, (2, n_tokens), generator=torch.Generator().manual_seed(1))
    return model, ids


def tiny_llama():
    config = transformers.LlamaConfig(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024,
    )
    return _tiny(transformers.LlamaForCausalLM, config, 300)


def test_swap_in_is_exact_when_hyper_is_exact_and_changes_only_chosen_layers():
    model, ids = tiny_llama()
    with torch.no_grad():
        ref = model(ids).logits
        patched = use_hyper_attention(model, layers=[1, 2], rng=0, min_seq_len=512)  # 300 tokens: exact
        assert [m.layer_idx for m in patched] == [1, 2]
        assert isinstance(model.model.layers[1].self_attn.hyper_attention, HyperAttention)
        assert not hasattr(model.model.layers[0].self_attn, "hyper_attention")
        assert torch.allclose(model(ids).logits, ref, atol=1e-9)


def test_swap_in_end_to_end_approximation_trains_and_can_be_removed():
    model, ids = tiny_llama()
    with torch.no_grad():
        ref = model(ids).logits
    use_hyper_attention(model, layers=[2], rng=0, min_seq_len=32, block_size=16, query_block=16, sample_size=16)
    out = model(ids, labels=ids)
    assert torch.isfinite(out.loss)
    assert not torch.allclose(out.logits, ref, atol=1e-6)  # layer 2 is approximated now
    out.loss.backward()
    assert torch.isfinite(model.model.layers[2].self_attn.q_proj.weight.grad).all()
    remove_hyper_attention(model)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ref, atol=1e-9)


def test_padded_batches_fall_back_to_sdpa_and_bad_layers_raise():
    model, ids = tiny_llama()
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left padding: not a plain causal mask
    with torch.no_grad():
        ref = model(ids, attention_mask=mask).logits
        use_hyper_attention(model, layers=[0, 1, 2], rng=0, min_seq_len=16, block_size=16, query_block=16)
        assert torch.allclose(model(ids, attention_mask=mask).logits, ref, atol=1e-9)
    with pytest.raises(InvalidParameterError):
        use_hyper_attention(model, layers=[7])


def tiny_bert():
    config = transformers.BertConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, max_position_embeddings=512)
    return _tiny(transformers.BertModel, config, 256)


def test_encoder_swap_in_is_bidirectional_exact_when_hyper_is_and_padding_falls_back():
    model, ids = tiny_bert()
    with torch.no_grad():
        ref = model(ids).last_hidden_state
        use_hyper_attention(model, layers=[0, 1], rng=0, min_seq_len=512)  # 256 tokens: exact, non-causal
        assert torch.allclose(model(ids).last_hidden_state, ref, atol=1e-9)
        remove_hyper_attention(model)
        use_hyper_attention(model, layers=[1], rng=0, min_seq_len=32, block_size=16, query_block=16, sample_size=16)
        approx = model(ids).last_hidden_state
        assert not torch.allclose(approx, ref, atol=1e-6)  # layer 1 approximated
        assert float((approx - ref).norm() / ref.norm()) < 0.5
        mask = torch.ones_like(ids)
        mask[0, -5:] = 0  # padding: SDPA as before
        remove_hyper_attention(model)
        padded_ref = model(ids, attention_mask=mask).last_hidden_state
        use_hyper_attention(model, layers=[1], rng=0, min_seq_len=32, block_size=16, query_block=16)
        assert torch.allclose(model(ids, attention_mask=mask).last_hidden_state, padded_ref, atol=1e-9)
