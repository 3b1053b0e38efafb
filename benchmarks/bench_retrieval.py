"""Exact vs approximate hyperbolic k-NN: build time, query latency and recall@10; prints one table.

Data: synthetic Lorentz embeddings with a two-level hierarchy, like relation embeddings of a
hyperbolic head: generic "parent" directions near the origin (radius 0.5-1.5), thousands of
specific clusters further out (radius 1.5-3.5) around their parent's direction, points spread
around their cluster with a per-cluster width, plus 10% generic points near the parents.
Queries come from the same distribution (fresh samples).

Recall@10 is measured against the exact index, whose own results are checked against a numpy
float64 brute force (chunked). Latency = wall time of one batched search / number of queries.
Usage: python benchmarks/bench_retrieval.py [--sizes 100000 1000000] [--dim 32] [--queries 200]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import faiss
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.retrieval.index import (
    ExactLorentzIndex,
    TangentHNSWIndex,
    exp0,
    lorentz_distance,
)


class HierarchicalPoints:
    """Generator of clustered hyperboloid points at varied radii (space components, float32)."""

    def __init__(self, dim: int, curvature: float, parents: int = 64, clusters: int = 4096, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.curvature = dim, curvature
        parent_dir = rng.normal(size=(parents, dim))
        parent_dir /= np.linalg.norm(parent_dir, axis=1, keepdims=True)
        self.parent_centre = parent_dir * rng.uniform(0.5, 1.5, (parents, 1))
        parent_of = rng.integers(0, parents, clusters)
        child_dir = parent_dir[parent_of] + 1.8 / np.sqrt(dim) * rng.normal(size=(clusters, dim))
        child_dir /= np.linalg.norm(child_dir, axis=1, keepdims=True)
        self.cluster_centre = child_dir * rng.uniform(1.5, 3.5, (clusters, 1))
        self.cluster_width = rng.uniform(0.03, 0.15, clusters)
        self.parents, self.clusters = parents, clusters

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, 200_000):  # chunks keep float64 temporaries small
            m = min(200_000, n - start)
            generic = rng.random(m) < 0.1
            which = rng.integers(0, self.clusters, m)
            centre = self.cluster_centre[which]
            width = self.cluster_width[which]
            parent = rng.integers(0, self.parents, m)
            centre[generic] = self.parent_centre[parent[generic]]
            width[generic] = 0.15
            tangent = centre + rng.normal(size=(m, self.dim)) * width[:, None]
            out[start:start + m] = exp0(tangent, self.curvature)
        return out


def brute_force_ids(queries: np.ndarray, points: np.ndarray, curvature: float, k: int) -> np.ndarray:
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 10):
        dist = lorentz_distance(queries[start:start + 10], points, curvature)
        part = np.argpartition(dist, k, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(dist, part, 1), axis=1)
        ids[start:start + 10] = np.take_along_axis(part, order, 1)
    return ids


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def measure(n: int, generator: HierarchicalPoints, queries: np.ndarray, args: argparse.Namespace) -> list:
    """Table rows (items, index, shortlist, build s, ms/query, recall) for ``n`` indexed points."""
    points = generator.sample(n, seed=n)
    radii = np.arccosh(np.sqrt(1 + args.curvature * (points.astype(np.float64) ** 2).sum(1))) / np.sqrt(args.curvature)
    print(f"n={n:,}: radius mean {radii.mean():.2f}, 5-95% {np.percentile(radii, 5):.2f}-"
          f"{np.percentile(radii, 95):.2f}", file=sys.stderr)
    truth = brute_force_ids(queries, points, args.curvature, args.k)
    rows = []
    start = time.perf_counter()
    exact = ExactLorentzIndex(args.curvature).build(points)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    exact_ids = exact.search(queries, args.k)[1]
    search_s = time.perf_counter() - start
    rows.append((n, "exact_lorentz (FlatIP)", "-", build_s, 1e3 * search_s / len(queries), recall_at(exact_ids, truth)))
    del exact
    print(f"n={n:,}: exact done, building HNSW", file=sys.stderr)
    start = time.perf_counter()
    approx = TangentHNSWIndex(args.curvature).build(points)
    build_s = time.perf_counter() - start
    for shortlist in args.shortlists:
        approx.shortlist = shortlist
        start = time.perf_counter()
        ids = approx.search(queries, args.k)[1]
        search_s = time.perf_counter() - start
        rows.append((n, "tangent_hnsw + rerank", str(shortlist), build_s, 1e3 * search_s / len(queries),
                     recall_at(ids, truth)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--curvature", type=float, default=1.0)
    parser.add_argument("--shortlists", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)

    generator = HierarchicalPoints(args.dim, args.curvature)
    queries = generator.sample(args.queries, seed=999)
    rows = [row for n in args.sizes for row in measure(n, generator, queries, args)]

    print(f"\nHyperbolic k-NN, {args.dim}-d Lorentz points (c={args.curvature}), {args.queries} queries, "
          f"k={args.k}, {args.threads} faiss threads; recall@{args.k} vs numpy float64 brute force\n")
    header = ("items", "index", "shortlist", "build s", "ms/query", f"recall@{args.k}")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n, name, shortlist, build_s, ms, recall in rows:
        print(f"| {n:,} | {name} | {shortlist} | {build_s:.1f} | {ms:.2f} | {recall:.3f} |")


if __name__ == "__main__":
    main()
