"""Image <-> caption retrieval with hyperbolic vs Euclidean retrieval heads on frozen relation embeddings.

1. Cache (``--cache FILE.npz``, reused when present): run ONE trained predcls relation model (config +
   checkpoint) over the train and test splits and keep, per image, the ``rel_embed`` of its annotated
   pairs plus its ``--pairs-per-image`` best-scoring candidate pairs (float16), their triplet scores,
   the GT predicate (0 = not annotated) and whether the model's top predicate is right.
2. Train only a :class:`~sgg.modeling.auxiliary.HypRetrievalHead` on the cache, four variants:
   Lorentz with / without the entailment loss, Euclidean (cosine) with the same head. Losses: the
   graph-level image <-> caption InfoNCE (+ entailment) and the relation-level prototype loss on
   the annotated pairs. Same seed, iterations and batch for every variant.
3. Test split: text->image and image->text R@1/5/10 (an image counts as a hit for a caption when it
   is the caption's image; image->text hits any of the image's captions), and for the Lorentz
   variants the Spearman rank correlation of (a) relation radius vs the relation model's error on
   annotated test pairs, (b) image radius vs mean caption length, (c) image radius vs object count.

Prints one markdown table. Usage:
    python benchmarks/retrieval_experiment.py --config-file configs/toy/predcls_motifs.yaml \\
        --weights output/demo/predcls_motifs/model_final.pth --cache output/retrieval_cache.npz
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Dict, List

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.config import get_cfg  # noqa: E402
from sgg.modeling.auxiliary import HypRetrievalHead  # noqa: E402
from sgg.modeling.auxiliary.common import class_word_vectors  # noqa: E402
from sgg.modeling.geometry import lorentz  # noqa: E402
from sgg.modeling.text import WordTokenizer  # noqa: E402


# ----------------------------------------------------------------------------- caching
@torch.no_grad()
def cache_split(model, loader, pairs_per_image: int) -> Dict[str, np.ndarray]:
    """Per-image relation embeddings of one split (flattened arrays + per-image counts)."""
    grabbed = []
    handle = model.relation_head.register_forward_hook(lambda m, args, out: grabbed.append((args[0], out)))
    emb, weight, gt, correct, counts, num_objs, captions, names = [], [], [], [], [], [], [], []
    try:
        for batch in tqdm(loader, desc="caching relation embeddings"):
            grabbed.clear()
            model(batch)
            inputs, out = grabbed[-1]
            probs = torch.softmax(out.rel_logits.float(), 1)
            start = 0
            for sample, pairs in zip(batch, inputs.pair_idx):
                r = len(pairs)
                p = probs[start:start + r]
                score = p[:, 1:].max(1).values
                gt_map = {(int(s), int(o)): int(k) for s, o, k in sample.record.relations}
                gt_pred = torch.tensor([gt_map.get((int(s), int(o)), 0) for s, o in pairs.tolist()], dtype=torch.long)
                keep = set(torch.argsort(score, descending=True)[:pairs_per_image].tolist())
                keep |= set(torch.nonzero(gt_pred > 0).flatten().tolist())
                idx = torch.tensor(sorted(keep), dtype=torch.long)
                emb.append(out.rel_embed[start:start + r][idx].half().numpy())
                weight.append(score[idx].numpy())
                gt.append(gt_pred[idx].numpy())
                correct.append((p[idx, 1:].argmax(1) + 1 == gt_pred[idx]).numpy())
                counts.append(len(idx))
                num_objs.append(sample.record.num_objects)
                captions.append("\t".join(sample.record.captions))
                names.append(sample.record.file_name)
                start += r
    finally:
        handle.remove()
    return dict(emb=np.concatenate(emb), weight=np.concatenate(weight), gt=np.concatenate(gt),
                correct=np.concatenate(correct), counts=np.array(counts), num_objs=np.array(num_objs),
                captions=np.array(captions), names=np.array(names))


def build_cache(args) -> Dict[str, Dict[str, np.ndarray]]:
    from sgg.data.build import build_test_loader, register_datasets_from_config
    from sgg.retrieval.service import load_trained_model

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(["MODEL.WEIGHTS", args.weights, "MODEL.AUXILIARY.HEADS", ()] + list(args.opts))
    cfg.freeze()
    model, metadata = load_trained_model(cfg)
    out = {}
    for split, name in (("train", cfg.DATASETS.TRAIN[0]), ("test", cfg.DATASETS.TEST[0])):
        register_datasets_from_config(cfg, [name])
        out[split] = cache_split(model, build_test_loader(cfg, name), args.pairs_per_image)
    out["meta"] = dict(pred_vectors=class_word_vectors(cfg, metadata.predicate_classes).numpy(),
                       obj_vectors=class_word_vectors(cfg, metadata.object_classes).numpy())
    return out


def save_cache(path: str, cache) -> None:
    flat = {f"{split}/{k}": v for split, d in cache.items() for k, v in d.items()}
    tmp = path + ".tmp.npz"
    np.savez(tmp, **flat)
    os.replace(tmp, path)


def load_cache(path: str):
    data = np.load(path, allow_pickle=False)
    cache: Dict[str, Dict[str, np.ndarray]] = {}
    for key in data.files:
        split, name = key.split("/", 1)
        cache.setdefault(split, {})[name] = data[key]
    return cache


# ----------------------------------------------------------------------------- training / evaluation
def _groups(split):
    starts = np.concatenate([[0], np.cumsum(split["counts"])])
    return starts


def _batch(split, images: np.ndarray, starts):
    rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in images])
    return (torch.from_numpy(split["emb"][rows].astype(np.float32)), torch.from_numpy(split["weight"][rows]),
            torch.from_numpy(split["gt"][rows]), [int(split["counts"][i]) for i in images])


def train_head(cache, tok: WordTokenizer, geometry: str, entail: float, args) -> HypRetrievalHead:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = cache["train"]
    head = HypRetrievalHead(train["emb"].shape[1], torch.from_numpy(cache["meta"]["pred_vectors"]),
                            torch.from_numpy(cache["meta"]["obj_vectors"]), embed_dim=args.embed_dim,
                            loss_weight=1.0, entail_weight=entail, geometry=geometry, tokenizer=tok).train()
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=0.01)
    starts = _groups(train)
    caps = [c.split("\t") if c else [] for c in train["captions"]]
    usable = np.array([i for i in range(len(caps)) if caps[i] and train["counts"][i] > 0])
    for _ in tqdm(range(args.iters), desc=f"training {geometry} entail={entail}"):
        images = rng.choice(usable, size=min(args.batch, len(usable)), replace=False)
        emb, weight, gt, counts = _batch(train, images, starts)
        ids, lengths = tok.encode_batch([caps[i][rng.integers(len(caps[i]))] for i in images], 64)
        losses = head.graph_level_losses(emb, weight.float(), counts, ids, lengths)
        fg = gt > 0
        if fg.any():
            v = head.lift_visual(emb[fg])
            losses["rel"] = torch.nn.functional.cross_entropy(head.prototype_logits(v), gt[fg] - 1)
            if geometry == "lorentz" and entail > 0:
                losses["rel_ent"] = entail * head.entailment_loss(head.predicate_points()[gt[fg] - 1], v)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    return head.eval()


def recall_at(ranks: List[int], k: int) -> float:
    return 100.0 * float(np.mean(np.asarray(ranks) < k))


@torch.no_grad()
def evaluate(head: HypRetrievalHead, cache, tok: WordTokenizer) -> Dict[str, float]:
    test = cache["test"]
    starts = _groups(test)
    images = np.arange(len(test["counts"]))
    emb, weight, gt, counts = _batch(test, images, starts)
    img_points = head.embed_images(emb, weight.float(), counts)
    caps = [c.split("\t") if c else [] for c in test["captions"]]
    owner = np.array([i for i, cs in enumerate(caps) for _ in cs])
    ids, lengths = tok.encode_batch([c for cs in caps for c in cs], 64)
    cap_points = head.embed_captions(ids, lengths)
    sim = head.similarity(cap_points, img_points).numpy()  # (captions, images)
    t2i = [int((sim[j] > sim[j, owner[j]]).sum()) for j in range(len(owner))]
    i2t = []
    for i in images:
        mine = owner == i
        if mine.any():
            i2t.append(int((sim[:, i] > sim[mine, i].max()).sum()))
    res = {f"t2i R@{k}": recall_at(t2i, k) for k in (1, 5, 10)}
    res.update({f"i2t R@{k}": recall_at(i2t, k) for k in (1, 5, 10)})
    if head.geometry == "lorentz":
        c = head.curvature()
        rel_radius = lorentz.radius(head.lift_visual(emb), c).numpy()
        ann = gt.numpy() > 0
        err = ~test["correct"][ann]
        res["rho(rel radius, error)"] = float(spearmanr(rel_radius[ann], err.astype(float)).statistic)
        img_radius = lorentz.radius(img_points, c).numpy()
        cap_len = np.array([np.mean([len(tok.split(x)) for x in cs]) if cs else np.nan for cs in caps])
        ok = ~np.isnan(cap_len)
        res["rho(img radius, caption len)"] = float(spearmanr(img_radius[ok], cap_len[ok]).statistic)
        res["rho(img radius, #objects)"] = float(spearmanr(img_radius, test["num_objs"]).statistic)
        res["test relation error rate"] = 100.0 * float(err.mean())
    return res


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="config of the trained predcls relation model")
    parser.add_argument("--weights", required=True, help="its checkpoint (model_final.pth)")
    parser.add_argument("--cache", required=True, help="npz cache of relation embeddings (built when missing)")
    parser.add_argument("--pairs-per-image", type=int, default=16)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64, help="images per training batch")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one head per variant and seed; cells are mean ± sample std over seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (e.g. DATASETS.ROOT)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if os.path.exists(args.cache):
        cache = load_cache(args.cache)
    else:
        cache = build_cache(args)
        save_cache(args.cache, cache)
    train_caps = [c for cs in cache["train"]["captions"] for c in str(cs).split("\t") if c]
    tok = WordTokenizer.build(train_caps)
    print(f"cache: {len(cache['train']['counts'])} train / {len(cache['test']['counts'])} test images, "
          f"{cache['train']['emb'].shape[1]}-d rel_embed; vocabulary {len(tok)} words")
    variants = [("Lorentz + entailment", "lorentz", 0.2), ("Lorentz, no entailment", "lorentz", 0.0),
                ("Euclidean (cosine)", "euclidean", 0.0)]
    rows = []
    for label, geometry, entail in variants:
        runs = []
        for seed in args.seeds:
            args.seed = seed
            t0 = time.time()
            head = train_head(cache, tok, geometry, entail, args)
            res = evaluate(head, cache, tok)
            res["train s"] = time.time() - t0
            runs.append(res)
        rows.append((label, runs))
    keys = [f"{d} R@{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)]
    keys += sorted({k for _, runs in rows for r in runs for k in r} - set(keys) - {"train s"}) + ["train s"]

    def cell(runs: List[Dict[str, float]], key: str) -> str:
        values = [r[key] for r in runs if key in r]
        if not values:
            return "-"
        digits = 3 if key.startswith("rho") else 1
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"

    print(f"\n{len(args.seeds)} seed(s) per row: mean ± sample std")
    print("| head | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, runs in rows:
        print(f"| {label} | " + " | ".join(cell(runs, k) for k in keys) + " |")

if __name__ == "__main__":
    main()
