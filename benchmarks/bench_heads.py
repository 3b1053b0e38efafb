"""Parameter count and inference time of the relation heads (Motifs, Motifs+CoRE, CReaL).

One image-sized batch: 12 objects, all 132 ordered pairs, PredCls, eval mode, float32, CPU
(or CUDA with --device cuda). Prints one table with the overhead relative to Motifs, at the toy
widths (configs/toy) and the VG-150 widths (configs/VG150).

    python benchmarks/bench_heads.py [--objects 12] [--repeats 20] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from sgg.modeling.heads import CoRE, CReaL, MotifsHead
from sgg.modeling.heads.synthetic import random_head_inputs

WIDTHS = {
    # name: (C_obj, C_rel, feat dim, Motifs hidden, pooling, embed, pos, CoRE d_q, CoRE hidden,
    #        CReaL word, mlp, complex, proto)
    "toy": (25, 18, 512, 128, 512, 50, 64, 32, 128, 50, 256, 128, 128),
    "VG-150": (151, 51, 4096, 512, 4096, 200, 128, 256, 256, 300, 2048, 1024, 1024),
}


def build_heads(width: tuple) -> dict:
    c_obj, c_rel, feat, hid, pool, emb, pos, dq, chid, word, mlp, dc, dp = width
    def motifs():
        return MotifsHead(num_obj_classes=c_obj, num_predicates=c_rel, obj_feat_dim=feat, union_feat_dim=feat,
                          hidden_dim=hid, pooling_dim=pool, embed_dim=emb, pos_embed_dim=pos)
    return {
        "Motifs": motifs(),
        "Motifs+CoRE": CoRE(base=motifs(), quat_dim=dq, hidden_dim=chid),
        "CReaL": CReaL(num_obj_classes=c_obj, num_predicates=c_rel, obj_feat_dim=feat, union_feat_dim=feat,
                       word_dim=word, mlp_dim=mlp, complex_dim=dc, proto_dim=dp, obj_hidden_dim=hid,
                       pos_embed_dim=pos),
    }


@torch.no_grad()
def time_forward(head: torch.nn.Module, inputs, repeats: int, device: torch.device) -> float:
    """Median wall time of one forward pass in milliseconds."""
    head.eval()
    for _ in range(3):
        head(inputs)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        head(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _to(inputs, device):
    for name in ("obj_feats", "union_feats"):
        setattr(inputs, name, getattr(inputs, name).to(device))
    for name in ("boxes", "pair_idx", "obj_labels", "obj_scores"):
        setattr(inputs, name, [t.to(device) for t in getattr(inputs, name)])
    return inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    n = args.objects
    print(f"relation heads, PredCls inference, {n} objects / {n * (n - 1)} pairs, device={device}, "
          f"threads={args.threads}")
    print(f"{'widths':<8} {'head':<13} {'params (M)':>11} {'fwd ms':>9} {'+params (M)':>12} {'+ms':>8}")
    for wname, width in WIDTHS.items():
        inputs = _to(random_head_inputs([n], width[2], width[2], width[0], width[1]), device)
        ref_params = ref_ms = None
        for hname, head in build_heads(width).items():
            head.to(device)
            params = sum(p.numel() for p in head.parameters()) / 1e6
            ms = time_forward(head, inputs, args.repeats, device)
            if ref_params is None:
                ref_params, ref_ms = params, ms
            print(f"{wname:<8} {hname:<13} {params:>11.2f} {ms:>9.2f} {params - ref_params:>+12.2f} "
                  f"{ms - ref_ms:>+8.2f}")


if __name__ == "__main__":
    main()
