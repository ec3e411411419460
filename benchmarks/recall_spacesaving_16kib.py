"""SpaceSaving top-100 recall on W1 and W2 at 16 KiB and at the best peer's own bytes (bounter's
HashTable in docs/benchmarks/core.json: 23,182 B on W1, 22,077 B on W2), sized as bench_core.py
sizes it (item_bytes 0 for ints, 16 for tokens), and on W2 the capacity that reaches 1.00."""
import _workloads as W

import sketchkit as sk

PEER_BYTES = {"W1": 23_182, "W2": 22_077}


def recall(s, data, exact):
    s.update_batch(data)
    kth = exact.kth_count(100)
    return sum(exact.count(r.item) >= kth for r in s.top(100)) / 100


for name, data, item_bytes in (("W1", W.w1(), 0), ("W2", W.w2(), 16)):
    exact = W.exact_int(data) if name == "W1" else W.exact_str(data)
    for budget in (16 * 1024, PEER_BYTES[name]):
        s = sk.SpaceSaving.from_memory(budget, seed=12345, item_bytes=item_bytes)
        r = recall(s, data, exact)
        print(f"{name} budget {budget:,} B: capacity {s.capacity}, nbytes {s.nbytes:,}, recall {r:.2f}")
    if name == "W2":
        for capacity in (800, 900, 1000):
            s = sk.SpaceSaving(capacity, seed=12345)
            r = recall(s, data, exact)
            print(f"W2 capacity {capacity}: nbytes {s.nbytes:,}, recall {r:.2f}")
