"""InfoNCE on Gaussian mixtures recovers the Fisher subspace (Bansal, Kavis & Sanghavi).

Claim -> data -> fit -> figure:

1. Sample size panel: on a K=4 mixture in d=20 with a few high-variance noise directions,
   the sine of the largest principal angle between the learned r=3 subspace and the Fisher
   subspace, for PCA (no labels), LDA (labels) and InfoNCE (pairs, no labels), vs N.
2. Noise panel: InfoNCE when the augmentation comes from another component with
   probability delta.
3. CLIP panel: the x-encoder of CLIP vs the shared Fisher subspace
   (``Sigma_eff = Sigma_x + v v^T``) and vs the naive x-only subspace that keeps x's
   private clusters.
4. Real data panel: positives = another image of the same class; k-means NMI / ARI on the
   test embeddings of PCA, LDA and InfoNCE (digits at smoke scale, Fashion-MNIST above).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAME = "contrastive"
PAPER = ("Bansal, Kavis & Sanghavi, 'Understanding Contrastive Learning via Gaussian Mixture Models' "
         "(arXiv:2411.03517, NeurIPS 2025)")
CLAIM = ("With augmentation = another draw from the same mixture component, linear InfoNCE recovers the "
         "Fisher (LDA) subspace of a non-isotropic Gaussian mixture without labels, where PCA fails; "
         "it tolerates noisy augmentations, and CLIP learns the Fisher subspace shared by two modalities.")

# fixed before running; thresholds come from the paper page, never from our results
_CONFIG = {
    "smoke": dict(sizes=[500, 2000], seeds=1, n_steps=400, lr=1e-2, deltas=[0.0, 0.25], delta_n=2000,
                  clip_n=2000, real="digits", real_steps=400, real_kwargs={}),
    "default": dict(sizes=[500, 2000, 8000], seeds=3, n_steps=2000, lr=3e-3, deltas=[0.0, 0.1, 0.25, 0.5],
                    delta_n=8000, clip_n=8000, real="fashion_mnist", real_steps=2000,
                    real_kwargs=dict(n_train=10000, n_test=2000)),
    "paper": dict(sizes=[500, 2000, 8000, 32000], seeds=5, n_steps=4000, lr=3e-3,
                  deltas=[0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5], delta_n=32000, clip_n=32000,
                  real="fashion_mnist", real_steps=4000, real_kwargs={}),
}
K, D, R = 4, 20, 3  # components, dimension, embedding dimension r = K - 1
PCA_FAIL = 0.9  # paper page: PCA ~0.99
GAP_MAX = 0.1  # paper page: InfoNCE - LDA gaps <= 0.04
NOISY_DELTA, NOISY_MAX = 0.25, 0.15  # paper page: "noisy augmentation still below ~0.15"
CLIP_MAX = 0.1  # paper page: "CLIP variant below ~0.1 to the shared Fisher subspace"
NMI_SLACK = 0.05  # paper: InfoNCE matches LDA on clustering metrics


def _mean_std(values):
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std())


def _synthetic(cfg, seed):
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from frugalml._core import progress
    from frugalml.contrastive import GaussianMixturePairs, InfoNCEProjection, subspace_distance

    per_n = {str(n): {"pca": [], "lda": [], "lda_2n": [], "infonce": [], "mean_span": []} for n in cfg["sizes"]}
    per_delta = {str(dl): {"infonce": []} for dl in cfg["deltas"]}
    for s in progress(range(cfg["seeds"]), desc="contrastive seeds"):
        rng = np.random.default_rng([seed, s])
        gm = GaussianMixturePairs.random(K, D, random_state=rng)
        F = gm.fisher_subspace()
        for n in cfg["sizes"]:
            p = gm.sample(n, random_state=rng)
            both, labels = np.vstack([p.X, p.X_pos]), np.concatenate([p.z, p.z_pos])
            pca = PCA(R).fit(both)
            # LDA on the N labelled anchors (the paper page's reference) and on all 2N points
            lda = LinearDiscriminantAnalysis(n_components=R).fit(p.X, p.z)
            lda_2n = LinearDiscriminantAnalysis(n_components=R).fit(both, labels)
            nce = InfoNCEProjection(R, n_steps=cfg["n_steps"], learning_rate=cfg["lr"], random_state=rng)
            nce.fit(p.X, p.X_pos)
            row = per_n[str(n)]
            row["pca"].append(subspace_distance(pca.components_, F))
            row["lda"].append(subspace_distance(lda.scalings_[:, :R].T, F))
            row["lda_2n"].append(subspace_distance(lda_2n.scalings_[:, :R].T, F))
            row["infonce"].append(subspace_distance(nce.components_, F))
            row["mean_span"].append(subspace_distance(gm.means - gm.means.mean(0), F))
        for dl in cfg["deltas"]:
            noisy = GaussianMixturePairs(gm.means, gm.covariance, delta=dl)
            p = noisy.sample(cfg["delta_n"], random_state=rng)
            nce = InfoNCEProjection(R, n_steps=cfg["n_steps"], learning_rate=cfg["lr"], random_state=rng)
            per_delta[str(dl)]["infonce"].append(subspace_distance(nce.fit(p.X, p.X_pos).components_, F))
    return per_n, per_delta


def _clip(cfg, seed):
    from sklearn.cross_decomposition import CCA
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from frugalml.contrastive import CLIPProjection, TwoModalityMixturePairs, subspace_distance

    out = {"x_shared": [], "x_naive": [], "y_shared": [], "pca_x_shared": [], "cca_x_shared": [], "lda_x_shared": [],
           "targets_apart": []}
    for s in range(cfg["seeds"]):
        rng = np.random.default_rng([seed, 1000 + s])
        tm = TwoModalityMixturePairs.random(K, D, 16, random_state=rng)
        shared_x, naive_x, shared_y = tm.shared_fisher_subspace_x(), tm.naive_fisher_subspace_x(), tm.shared_fisher_subspace_y()
        smp = tm.sample(cfg["clip_n"], random_state=rng)
        clip = CLIPProjection(R, n_steps=cfg["n_steps"], learning_rate=cfg["lr"], random_state=rng).fit(smp.X, smp.Y)
        out["x_shared"].append(subspace_distance(clip.components_x_, shared_x))
        out["x_naive"].append(subspace_distance(clip.components_x_, naive_x))
        out["y_shared"].append(subspace_distance(clip.components_y_, shared_y))
        out["pca_x_shared"].append(subspace_distance(PCA(R).fit(smp.X).components_, shared_x))
        cca = CCA(n_components=R, max_iter=1000).fit(smp.X, smp.Y)
        out["cca_x_shared"].append(subspace_distance(cca.x_rotations_.T, shared_x))
        lda = LinearDiscriminantAnalysis(n_components=R).fit(smp.X, smp.z)  # supervised reference, uses z
        out["lda_x_shared"].append(subspace_distance(lda.scalings_[:, :R].T, shared_x))
        out["targets_apart"].append(subspace_distance(shared_x, naive_x))
    return out


def _real(cfg, seed):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from frugalml.contrastive import InfoNCEProjection, SameClassPairs
    from frugalml.data import load_image_dataset

    ds = load_image_dataset(cfg["real"], random_state=seed, **cfg["real_kwargs"])
    r = ds.n_classes - 1
    embeddings = {
        "pca": PCA(r).fit(ds.X_train).transform(ds.X_test),
        "lda": LinearDiscriminantAnalysis(n_components=r).fit(ds.X_train, ds.y_train).transform(ds.X_test),
        "infonce": InfoNCEProjection(r, n_steps=cfg["real_steps"], learning_rate=cfg["lr"], random_state=seed)
        .fit_stream(SameClassPairs(ds.X_train, ds.y_train)).transform(ds.X_test),
    }
    out = {"dataset": ds.name, "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)), "n_components": r}
    for name, Z in embeddings.items():
        labels = KMeans(ds.n_classes, n_init=10, random_state=seed).fit_predict(Z)
        out[name] = {"nmi": float(normalized_mutual_info_score(ds.y_test, labels)),
                     "ari": float(adjusted_rand_score(ds.y_test, labels))}
    return out


def run(scale: str = "default", seed: int = 0) -> dict:
    """Run the four panels; every number is a plain float (sines of principal angles, NMI, ARI)."""
    if scale not in _CONFIG:
        raise ValueError(f"scale must be one of {sorted(_CONFIG)}; got {scale!r}")
    cfg = _CONFIG[scale]
    per_n, per_delta = _synthetic(cfg, seed)
    return {
        "scale": scale,
        "setting": {"K": K, "d": D, "r": R, "mean_norm": 3.0, "noise_std": 5.0, "n_noise_directions": 3,
                    "n_steps": cfg["n_steps"], "learning_rate": cfg["lr"], "batch_size": 256,
                    "seeds": cfg["seeds"], "delta_n": cfg["delta_n"], "clip_n": cfg["clip_n"]},
        "sizes": cfg["sizes"],
        "by_size": per_n,
        "deltas": cfg["deltas"],
        "by_delta": per_delta,
        "clip": _clip(cfg, seed),
        "real": _real(cfg, seed),
    }


def check(result: dict) -> dict:
    """Five sub-claims with thresholds fixed from the paper page (see module constants)."""
    from frugalml.repro.verdict import claim, verdict

    sizes = [str(n) for n in result["sizes"]]
    m = {n: {k: _mean_std(v)[0] for k, v in result["by_size"][n].items()} for n in sizes}
    pca_min = min(m[n]["pca"] for n in sizes)
    gaps = [m[n]["infonce"] - m[n]["lda"] for n in sizes]
    fmt = "; ".join(f"N={n}: PCA {m[n]['pca']:.3f}, LDA {m[n]['lda']:.3f} (on 2N points {m[n]['lda_2n']:.3f}), "
                    f"InfoNCE {m[n]['infonce']:.3f}" for n in sizes)
    claims = [
        claim(f"PCA fails: sin(theta_max) to Fisher > {PCA_FAIL} at every N", pca_min > PCA_FAIL, fmt,
              paper="PCA 0.990-0.995"),
        claim(f"InfoNCE (N pairs, no labels) tracks LDA (N labelled points): InfoNCE - LDA <= {GAP_MAX} at every N",
              max(gaps) <= GAP_MAX, "gaps " + ", ".join(f"{g:+.3f}" for g in gaps) + "; vs LDA on all 2N points: "
              + ", ".join(f"{m[n]['infonce'] - m[n]['lda_2n']:+.3f}" for n in sizes),
              paper="gaps 0.003 / 0.020 / 0.041 at N=500/2000/8000"),
        claim("InfoNCE improves with N (largest N beats smallest N)",
              m[sizes[-1]]["infonce"] < m[sizes[0]]["infonce"],
              f"{m[sizes[0]]['infonce']:.3f} at N={sizes[0]} -> {m[sizes[-1]]['infonce']:.3f} at N={sizes[-1]}",
              paper="0.261 -> 0.101"),
    ]
    deltas = {float(k): _mean_std(v["infonce"])[0] for k, v in result["by_delta"].items()}
    if NOISY_DELTA in deltas:
        claims.append(claim(
            f"noisy augmentation (delta={NOISY_DELTA}, N={result['setting']['delta_n']}): InfoNCE sin < {NOISY_MAX}",
            deltas[NOISY_DELTA] < NOISY_MAX,
            ", ".join(f"delta={k:g}: {v:.3f}" for k, v in sorted(deltas.items())), paper="below ~0.15"))
    c = {k: _mean_std(v)[0] for k, v in result["clip"].items()}
    claims.append(claim(
        f"CLIP x-encoder lies in the shared Fisher subspace (sin < {CLIP_MAX}) and not the naive one",
        c["x_shared"] < CLIP_MAX and c["x_naive"] > c["x_shared"] + 0.5,
        f"N={result['setting']['clip_n']}: to shared {c['x_shared']:.3f}, to naive {c['x_naive']:.3f} "
        f"(targets {c['targets_apart']:.3f} apart); y-encoder to its Fisher {c['y_shared']:.3f}; "
        f"PCA(x) {c['pca_x_shared']:.3f}, CCA(x) {c['cca_x_shared']:.3f}, LDA(x, labels) {c['lda_x_shared']:.3f}",
        paper="below ~0.1 to the shared subspace"))
    real = result["real"]
    claims.append(claim(
        f"{real['dataset']}: k-means NMI on InfoNCE embedding >= PCA's and within {NMI_SLACK} of LDA's",
        real["infonce"]["nmi"] >= real["pca"]["nmi"] and real["infonce"]["nmi"] >= real["lda"]["nmi"] - NMI_SLACK,
        ", ".join(f"{k}: NMI {real[k]['nmi']:.3f} / ARI {real[k]['ari']:.3f}" for k in ("pca", "lda", "infonce")),
        paper="InfoNCE matches LDA on clustering metrics (CIFAR-100)"))
    paper_table = {"500": (0.995, 0.258, 0.261), "2000": (0.995, 0.136, 0.156), "8000": (0.990, 0.060, 0.101)}
    table = []
    for n in sizes:
        p = paper_table.get(n)
        table.append({"setting": f"N={n}: PCA / LDA / InfoNCE (sin to Fisher, {result['setting']['seeds']} seeds)",
                      "paper": " / ".join(f"{x:.3f}" for x in p) if p else "-",
                      "ours": f"{m[n]['pca']:.3f} / {m[n]['lda']:.3f} / {m[n]['infonce']:.3f}"})
    table.append({"setting": "CLIP x-encoder to shared Fisher (LDA on x with labels)", "paper": "< ~0.1",
                  "ours": f"{c['x_shared']:.3f} ({c['lda_x_shared']:.3f})"})
    table.append({"setting": f"InfoNCE, noisy positives delta={NOISY_DELTA}", "paper": "< ~0.15",
                  "ours": f"{deltas.get(NOISY_DELTA, float('nan')):.3f}"})
    table.append({"setting": f"{real['dataset']} k-means NMI PCA / LDA / InfoNCE", "paper": "InfoNCE ~ LDA",
                  "ours": " / ".join(f"{real[k]['nmi']:.3f}" for k in ("pca", "lda", "infonce"))})
    note = ("Setting reconstructed from the paper page (d=20, K=4, ||mu||=3, Sigma = I + 24 U U^T with 3 random "
            "noise directions; Adam, batch 256, raw dot-product InfoNCE, tau=1, data centred). LDA (the labelled "
            "reference) is fitted on the N anchors with their components, as the paper page's LDA numbers imply; "
            "LDA on all 2N points is reported beside it. The paper's real-data experiment uses CIFAR-100; "
            "we use Fashion-MNIST (digits at smoke scale) on raw pixels. Smoke scale uses 400 Adam steps at "
            "lr 1e-2 and one seed, so its numbers are coarse.")
    return verdict(claims, table=table, note=note)


def plot(result: dict, outdir) -> list[Path]:
    """One figure, four panels, rebuilt from the result dict only."""
    from frugalml._core.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    sizes = result["sizes"]
    ax = axes[0]
    for key, label, style in [("pca", "PCA", "s-"), ("lda", "LDA (N labelled)", "o-"),
                              ("lda_2n", "LDA (2N labelled)", "o:"), ("infonce", "InfoNCE (N pairs)", "^-")]:
        ms = [_mean_std(result["by_size"][str(n)][key]) for n in sizes]
        ax.errorbar(sizes, [a for a, _ in ms], yerr=[b for _, b in ms], fmt=style, label=label, capsize=3)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("N (pairs)")
    ax.set_ylabel("sin theta_max to Fisher subspace")
    ax.set_title("(a) subspace recovery vs N")
    ax.legend()

    ax = axes[1]
    deltas = result["deltas"]
    ms = [_mean_std(result["by_delta"][str(dl)]["infonce"]) for dl in deltas]
    ax.errorbar(deltas, [a for a, _ in ms], yerr=[b for _, b in ms], fmt="^-", capsize=3, label="InfoNCE")
    ax.axhline(NOISY_MAX, color="grey", ls=":", label=f"paper: < {NOISY_MAX}")
    ax.set_ylim(0, max(0.35, 1.15 * max(a for a, _ in ms)))
    ax.set_xlabel("augmentation noise delta")
    ax.set_ylabel("sin theta_max to Fisher")
    ax.set_title(f"(b) noisy positives, N={result['setting']['delta_n']}")
    ax.legend()

    ax = axes[2]
    keys = [("x_shared", "CLIP x vs shared"), ("x_naive", "CLIP x vs naive"), ("y_shared", "CLIP y vs shared"),
            ("pca_x_shared", "PCA x vs shared"), ("cca_x_shared", "CCA x vs shared"),
            ("lda_x_shared", "LDA x (labels) vs shared")]
    ms = [_mean_std(result["clip"][k]) for k, _ in keys]
    ax.bar(range(len(keys)), [a for a, _ in ms], yerr=[b for _, b in ms], color=["C2", "C3", "C2", "C0", "C7", "C1"], capsize=3)
    ax.set_xticks(range(len(keys)), [lbl for _, lbl in keys], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("sin theta_max")
    ax.set_title(f"(c) CLIP, N={result['setting']['clip_n']}")

    ax = axes[3]
    real = result["real"]
    methods = ["pca", "lda", "infonce"]
    x = np.arange(len(methods))
    ax.bar(x - 0.18, [real[k]["nmi"] for k in methods], 0.36, label="NMI")
    ax.bar(x + 0.18, [real[k]["ari"] for k in methods], 0.36, label="ARI")
    ax.set_xticks(x, ["PCA", "LDA (labels)", "InfoNCE"])
    ax.set_ylim(0, 1)
    ax.set_title(f"(d) k-means on {real['dataset']} test embeddings")
    ax.legend()
    return [save_figure(fig, Path(outdir) / "contrastive.png")]
