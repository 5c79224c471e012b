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

from frugalml.repro.stats import mean_se, superiority, threshold_test

NAME = "contrastive"
PAPER = ("Bansal, Kavis & Sanghavi, 'Understanding Contrastive Learning via Gaussian Mixture Models' "
         "(arXiv:2411.03517, NeurIPS 2025)")
CLAIM = ("With augmentation = another draw from the same mixture component, linear InfoNCE recovers the "
         "Fisher (LDA) subspace of a non-isotropic Gaussian mixture without labels, where PCA fails; "
         "it tolerates noisy augmentations, and CLIP learns the Fisher subspace shared by two modalities.")

# fixed before running; thresholds come from the paper's statements or from theory, never from our results
_CONFIG = {
    "smoke": dict(sizes=[500, 2000], seeds=1, n_steps=400, lr=3e-2, noisy_sizes=[500, 2000], clip_n=2000,
                  real="digits", real_steps=400, real_kwargs={}),
    "default": dict(sizes=[500, 2000, 8000, 32000], seeds=3, n_steps=2000, lr=3e-3, noisy_sizes=[2000, 8000, 32000],
                    clip_n=8000, real="fashion_mnist", real_steps=2000, real_kwargs=dict(n_train=10000, n_test=2000)),
    "paper": dict(sizes=[500, 2000, 8000, 32000, 128000], seeds=5, n_steps=4000, lr=3e-3,
                  noisy_sizes=[2000, 8000, 32000, 128000], clip_n=32000, real="fashion_mnist", real_steps=4000,
                  real_kwargs={}),
}
K, D, R = 4, 20, 3  # components, dimension, embedding dimension r = K - 1
PCA_FAIL = 0.9  # "spectral techniques cannot" find the Fisher subspace: PCA stays near-orthogonal to it
LDA_FACTOR = 2.0  # "InfoNCE can match ... LDA": our reading of "match" (the paper prints no number), within 2x
# a sqrt(N)-consistent estimator of the Fisher subspace has error ~ N^(-1/2) (log-log slope -1/2); one whose
# population optimum is off the Fisher subspace plateaus (slope -> 0). The check sits half way.
SLOPE_MAX = -0.25
NOISY_DELTA = 0.25  # positives from another component with prob. 0.25 (still biased to the own one: < 3/4)
NMI_SLACK = 0.05  # "InfoNCE matches LDA on clustering metrics": NMI within 0.05 of LDA's


def _mean_std(values):
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std())


def _slopes(sizes, per_size):
    """Per-seed least-squares slope of log(error) against log(N): a list, one per seed."""
    errs = np.array([per_size[str(n)] for n in sizes], dtype=float)  # (n_sizes, seeds)
    x = np.log(np.asarray(sizes, dtype=float))
    return [float(np.polyfit(x, np.log(np.maximum(errs[:, s], 1e-12)), 1)[0]) for s in range(errs.shape[1])]


def _pm(se):
    return f"{se:.2f}" if np.isfinite(se) else "n/a (one seed)"


def _ratio_test(num, den, line, label):
    """Per-seed ratio ``num / den`` against ``line`` (lower is better), SE over seeds: ``(mean, se, record)``."""
    ratio = np.asarray(num, dtype=float) / np.asarray(den, dtype=float)
    m, se = mean_se(ratio)
    return m, se, threshold_test(m, line, higher_is_better=False, se=se, n=ratio.size, label=label)


def _lda_dist(X, z, F):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from frugalml.contrastive import subspace_distance

    return subspace_distance(LinearDiscriminantAnalysis(n_components=R).fit(X, z).scalings_[:, :R].T, F)


def _population_pca(gm):
    """Top-r eigenvectors of the population covariance Sigma + sum_k pi_k (mu_k - mu_bar)(mu_k - mu_bar)^T."""
    C = gm.means - gm.weights @ gm.means
    cov = gm.covariance + (C * gm.weights[:, None]).T @ C
    vals, vecs = np.linalg.eigh(cov)
    return vecs[:, np.argsort(vals)[::-1][:R]].T


def _synthetic(cfg, seed):
    from sklearn.decomposition import PCA

    from frugalml._core import progress
    from frugalml.contrastive import GaussianMixturePairs, InfoNCEProjection, subspace_distance

    def nce(**kw):
        return InfoNCEProjection(R, n_steps=cfg["n_steps"], learning_rate=cfg["lr"], **kw)

    per_n = {str(n): {"pca": [], "lda": [], "lda_2n": [], "infonce": []} for n in cfg["sizes"]}
    per_noisy = {str(n): {"infonce": [], "lda": []} for n in cfg["noisy_sizes"]}
    extra = {"pca_population": [], "stream": {}}
    for s in progress(range(cfg["seeds"]), desc="contrastive seeds"):
        rng = np.random.default_rng([seed, s])
        gm = GaussianMixturePairs.random(K, D, random_state=rng)
        F = gm.fisher_subspace()
        extra["pca_population"].append(subspace_distance(_population_pca(gm), F))
        for n in cfg["sizes"]:
            p = gm.sample(n, random_state=rng)
            both, labels = np.vstack([p.X, p.X_pos]), np.concatenate([p.z, p.z_pos])
            row = per_n[str(n)]
            row["pca"].append(subspace_distance(PCA(R).fit(both).components_, F))
            # LDA on the N labelled anchors (the reference at the same N) and on all 2N points
            row["lda"].append(_lda_dist(p.X, p.z, F))
            row["lda_2n"].append(_lda_dist(both, labels, F))
            row["infonce"].append(subspace_distance(nce(random_state=rng).fit(p.X, p.X_pos).components_, F))
        noisy = GaussianMixturePairs(gm.means, gm.covariance, delta=NOISY_DELTA)
        for n in cfg["noisy_sizes"]:
            p = noisy.sample(n, random_state=rng)
            per_noisy[str(n)]["infonce"].append(subspace_distance(nce(random_state=rng).fit(p.X, p.X_pos).components_, F))
            per_noisy[str(n)]["lda"].append(_lda_dist(p.X, p.z, F))  # clean labels of the anchors
        if s == 0:  # beyond the paper, one seed: fresh pairs every step, and the constant-lr ablation
            n_seen = cfg["n_steps"] * 256
            for name, sampler in (("clean", gm), ("noisy", noisy)):
                X, z = sampler.sample_components(n_seen, random_state=rng)
                extra["stream"][name] = {
                    "infonce": subspace_distance(nce(random_state=rng).fit_stream(sampler).components_, F),
                    "lda_same_count": _lda_dist(X, z, F), "pairs_seen": n_seen}
            n = cfg["sizes"][-1]
            p = gm.sample(n, random_state=rng)
            extra["constant_lr"] = {
                "n": n, "cosine": per_n[str(n)]["infonce"][0],
                "constant": subspace_distance(nce(random_state=rng, lr_schedule="constant").fit(p.X, p.X_pos).components_, F)}
    return per_n, per_noisy, extra


def _clip(cfg, seed):
    from sklearn.cross_decomposition import CCA
    from sklearn.decomposition import PCA

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
        out["lda_x_shared"].append(_lda_dist(smp.X, smp.z, shared_x))  # supervised reference, uses z
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
    per_n, per_noisy, extra = _synthetic(cfg, seed)
    return {
        "scale": scale,
        "setting": {"K": K, "d": D, "r": R, "mean_norm": 3.0, "noise_std": 5.0, "n_noise_directions": 3,
                    "n_steps": cfg["n_steps"], "learning_rate": cfg["lr"], "lr_schedule": "cosine", "batch_size": 256,
                    "seeds": cfg["seeds"], "noisy_delta": NOISY_DELTA, "clip_n": cfg["clip_n"]},
        "sizes": cfg["sizes"],
        "by_size": per_n,
        "noisy_sizes": cfg["noisy_sizes"],
        "noisy": per_noisy,
        "beyond": extra,
        "clip": _clip(cfg, seed),
        "real": _real(cfg, seed),
    }


def check(result: dict) -> dict:
    """Six sub-claims of the paper; thresholds from its statements or from theory (module constants).

    Our own controls (population PCA, fresh-pair streams, the constant-lr ablation, LDA on 2N
    points, PCA / CCA references) are reported in the note, beside the verdict, never in it.
    """
    from frugalml.repro.verdict import claim, verdict

    sizes = [str(n) for n in result["sizes"]]
    by = result["by_size"]
    m = {n: {k: _mean_std(v)[0] for k, v in by[n].items()} for n in sizes}
    seeds = result["setting"]["seeds"]
    t_pca = []
    for n in sizes:
        mu, se = mean_se(by[n]["pca"])
        t_pca.append(threshold_test(mu, PCA_FAIL, se=se, n=len(by[n]["pca"]), label=f"N={n}: PCA sin to Fisher > {PCA_FAIL}"))
    ratios = [_ratio_test(by[n]["infonce"], by[n]["lda"], LDA_FACTOR, f"N={n}: InfoNCE / LDA error <= {LDA_FACTOR:g}")
              for n in sizes]
    t_ratio = [t for _, _, t in ratios]
    fmt = "; ".join(f"N={n}: PCA {m[n]['pca']:.3f}, LDA {m[n]['lda']:.3f}, InfoNCE {m[n]['infonce']:.3f}" for n in sizes)
    slopes = _slopes(result["sizes"], {n: by[n]["infonce"] for n in sizes})
    slope, slope_se = mean_se(slopes)
    lda_slope, _ = mean_se(_slopes(result["sizes"], {n: by[n]["lda"] for n in sizes}))
    t_slope = threshold_test(slope, SLOPE_MAX, higher_is_better=False, se=slope_se, n=len(slopes),
                             label=f"log-log slope of InfoNCE's error vs N <= {SLOPE_MAX}")
    claims = [
        claim(f"spectral methods fail: PCA's sin(theta_max) to the Fisher subspace > {PCA_FAIL} at every N",
              all(t["held"] for t in t_pca), fmt,
              paper="InfoNCE finds the optimal subspace 'even when the Gaussians are not isotropic -- something that "
                    "vanilla spectral techniques cannot do'", test=t_pca),
        claim(f"InfoNCE (N pairs, no labels) matches LDA (N labelled points): error <= {LDA_FACTOR:g} x LDA's at every N",
              all(t["held"] for t in t_ratio),
              "InfoNCE / LDA (mean of per-seed ratios): " + ", ".join(f"N={n}: {r:.2f}" for n, (r, _, _) in zip(sizes, ratios)),
              paper="'InfoNCE can match the performance of a fully supervised algorithm, e.g., LDA'", test=t_ratio),
        claim(f"InfoNCE is consistent for the Fisher subspace: log-log slope of its error vs N <= {SLOPE_MAX} "
              "(one-sided t-test over seeds; -1/2 for a sqrt(N)-consistent estimator, 0 if its optimum were off the "
              "subspace)", t_slope["held"],
              f"slope {slope:+.2f} +- {_pm(slope_se)} (SE over {seeds} seeds); LDA's {lda_slope:+.2f}; "
              f"error {m[sizes[0]]['infonce']:.3f} at N={sizes[0]} -> {m[sizes[-1]]['infonce']:.3f} at N={sizes[-1]}",
              paper="the InfoNCE optimum is the Fisher subspace (population-level theorem)", test=t_slope),
    ]
    nsz = [str(n) for n in result["noisy_sizes"]]
    nm = {n: {k: _mean_std(v)[0] for k, v in result["noisy"][n].items()} for n in nsz}
    nslopes = _slopes(result["noisy_sizes"], {n: result["noisy"][n]["infonce"] for n in nsz})
    nslope, nslope_se = mean_se(nslopes)
    t_nslope = threshold_test(nslope, SLOPE_MAX, higher_is_better=False, se=nslope_se, n=len(nslopes),
                              label=f"noisy positives: log-log slope of InfoNCE's error vs N <= {SLOPE_MAX}")
    claims.append(claim(
        f"noisy augmentation (delta={NOISY_DELTA:g}): InfoNCE still converges to the Fisher subspace, slope "
        f"<= {SLOPE_MAX} (one-sided t-test over seeds)", t_nslope["held"],
        f"slope {nslope:+.2f} +- {_pm(nslope_se)}; error (InfoNCE / LDA with clean labels) "
        + ", ".join(f"N={n}: {nm[n]['infonce']:.3f} / {nm[n]['lda']:.3f}" for n in nsz),
        paper="InfoNCE matches LDA 'even when the augmentations are \"noisy\"' (positives only biased towards the "
              "sample's component)", test=t_nslope))
    cl = result["clip"]
    c = {k: _mean_std(v)[0] for k, v in cl.items()}
    clip_ratio, clip_se, t_clip_ratio = _ratio_test(cl["x_shared"], cl["lda_x_shared"], LDA_FACTOR, "CLIP x-encoder / "
                                                    f"LDA error to the shared Fisher subspace <= {LDA_FACTOR:g}")
    t_clip = [t_clip_ratio,
              superiority(cl["x_shared"], cl["x_naive"], higher_is_better=False,
                          label="CLIP x-encoder closer to the shared than to the naive subspace")]
    claims.append(claim(
        f"CLIP's x-encoder learns the shared Fisher subspace: error <= {LDA_FACTOR:g} x that of LDA on x with the "
        "shared labels, and closer to it than to the naive x-only subspace",
        all(t["held"] for t in t_clip),
        f"N={result['setting']['clip_n']}: to shared {c['x_shared']:.3f} (LDA {c['lda_x_shared']:.3f}, per-seed ratio "
        f"{clip_ratio:.2f} +- {_pm(clip_se)}), "
        f"to naive {c['x_naive']:.3f} (targets {c['targets_apart']:.3f} apart); y-encoder to its "
        f"Fisher {c['y_shared']:.3f}; PCA(x) {c['pca_x_shared']:.3f}, CCA(x) {c['cca_x_shared']:.3f}",
        paper="'contrastive learning learns the subset of fisher-optimal subspace, effectively filtering out all the "
              "noise'", test=t_clip))
    real = result["real"]
    t_nmi = threshold_test(real["infonce"]["nmi"], real["lda"]["nmi"] - NMI_SLACK,
                           label=f"InfoNCE NMI >= LDA's - {NMI_SLACK}")
    claims.append(claim(
        f"{real['dataset']}: k-means NMI on the InfoNCE embedding within {NMI_SLACK} of LDA's",
        t_nmi["held"],
        ", ".join(f"{k}: NMI {real[k]['nmi']:.3f} / ARI {real[k]['ari']:.3f}" for k in ("pca", "lda", "infonce")),
        paper="CIFAR-100: 'representations learned by InfoNCE loss match the performance of LDA on clustering metrics'",
        test=t_nmi))
    # the paper page's reference CPU run (not numbers printed in the paper): sin at N = 500 / 2000 / 8000
    page_run = {"500": (0.995, 0.258, 0.261), "2000": (0.995, 0.136, 0.156), "8000": (0.990, 0.060, 0.101)}
    table = []
    for n in sizes:
        p = page_run.get(n)
        table.append({"setting": f"N={n}: PCA / LDA / InfoNCE (sin to Fisher, mean of {seeds} seeds)",
                      "paper": ("paper: PCA fails, InfoNCE matches LDA; page's reference CPU run "
                                + " / ".join(f"{x:.3f}" for x in p)) if p else "paper: PCA fails, InfoNCE matches LDA",
                      "ours": f"{m[n]['pca']:.3f} / {m[n]['lda']:.3f} / {m[n]['infonce']:.3f}"})
    table.append({"setting": "InfoNCE error vs N, log-log slope", "paper": "theory: -1/2 (consistent)",
                  "ours": f"{slope:+.2f} (LDA {lda_slope:+.2f})"})
    table.append({"setting": f"InfoNCE, noisy positives delta={NOISY_DELTA:g}, N={nsz[-1]} (LDA clean labels)",
                  "paper": "paper: still matches LDA; page's reference: < ~0.15 at N=8000",
                  "ours": f"{nm[nsz[-1]]['infonce']:.3f} ({nm[nsz[-1]]['lda']:.3f}), slope {nslope:+.2f}"})
    table.append({"setting": f"CLIP x-encoder to shared Fisher, N={result['setting']['clip_n']} (LDA on x with labels)",
                  "paper": "paper: learns the shared Fisher subspace; page's reference: < ~0.1",
                  "ours": f"{c['x_shared']:.3f} ({c['lda_x_shared']:.3f})"})
    table.append({"setting": f"{real['dataset']} k-means NMI PCA / LDA / InfoNCE",
                  "paper": "paper (CIFAR-100): InfoNCE matches LDA",
                  "ours": " / ".join(f"{real[k]['nmi']:.3f}" for k in ("pca", "lda", "infonce"))})
    b = result["beyond"]
    beyond = [f"population PCA (no sampling) is {_mean_std(b['pca_population'])[0]:.3f} from the Fisher subspace"]
    for name, st in b.get("stream", {}).items():
        beyond.append(f"fit_stream on {st['pairs_seen']} fresh {name} pairs: {st['infonce']:.3f} "
                      f"(LDA on as many labelled points {st['lda_same_count']:.3f})")
    if "constant_lr" in b:
        cl = b["constant_lr"]
        beyond.append(f"constant-lr Adam at N={cl['n']}: {cl['constant']:.3f} vs {cl['cosine']:.3f} with cosine decay")
    beyond.append("LDA on all 2N points: " + ", ".join(f"N={n}: {m[n]['lda_2n']:.3f}" for n in sizes))
    beyond.append(f"real data, PCA NMI {real['pca']['nmi']:.3f} vs InfoNCE {real['infonce']['nmi']:.3f}")
    note = ("Setting reconstructed from the paper page (d=20, K=4, ||mu||=3, Sigma = I + 24 U U^T with 3 random "
            "noise directions; Adam with cosine lr decay, batch 256, raw dot-product InfoNCE, tau=1, data centred). "
            "The 'paper' column quotes the paper's statements; the page's reference-run figures beside them are "
            "numbers measured on a CPU when the page was written, not values printed in the paper. Thresholds: "
            f"PCA > {PCA_FAIL} ('cannot'), within {LDA_FACTOR:g}x of LDA at the same N (our reading of 'match'; the "
            "paper gives no factor), log-log slope <= -1/4 (theory: -1/2 if the optimum is the Fisher subspace, 0 if "
            "not); each is tested one-sided at alpha 0.05 with the SE over seeds (t quantile, n-1 degrees of freedom; "
            "ratios are per-seed ratios). LDA uses the N anchors with their labels. The paper's real-data experiment uses CIFAR-100; we use "
            "Fashion-MNIST (digits at smoke scale) on raw pixels. Beyond the paper (not in the verdict): "
            + "; ".join(beyond) + ".")
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
    ax.set_yscale("log")
    ax.set_xlabel("N (pairs)")
    ax.set_ylabel("sin theta_max to Fisher subspace")
    ax.set_title("(a) subspace recovery vs N")
    ax.legend(fontsize=7)

    ax = axes[1]
    nsizes = result["noisy_sizes"]
    for key, label, style in [("infonce", f"InfoNCE, delta={result['setting']['noisy_delta']:g}", "^-"),
                              ("lda", "LDA (clean labels)", "o-")]:
        ms = [_mean_std(result["noisy"][str(n)][key]) for n in nsizes]
        ax.errorbar(nsizes, [a for a, _ in ms], yerr=[b for _, b in ms], fmt=style, capsize=3, label=label)
    ms = [_mean_std(result["by_size"][str(n)]["infonce"]) for n in sizes if str(n) in result["noisy"]]
    if ms:
        ax.plot([n for n in sizes if str(n) in result["noisy"]], [a for a, _ in ms], "^:", color="grey",
                label="InfoNCE, clean pairs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (pairs)")
    ax.set_ylabel("sin theta_max to Fisher")
    ax.set_title("(b) noisy positives: error vs N")
    ax.legend(fontsize=7)

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
