#!/usr/bin/python3
"""Reference values for test/evaluate/*.test.ts, computed independently of polarcad's TypeScript.

Run once with Debian's scientific Python (apt-get install python3-sklearn python3-scipy
python3-statsmodels), then paste the printed numbers into the tests:

    /usr/bin/python3 test/evaluate/reference/reference_values.py

Versions used for the numbers in the tests: scikit-learn 1.2.1, SciPy 1.10.1, statsmodels 0.13.5,
NumPy 1.24.2 (Debian 12 packages). The tests do not need Python at run time.

DeLong has no scikit-learn/SciPy function, so it is implemented here twice, independently of the
TypeScript code: (1) straight from the DeLong, DeLong & Clarke-Pearson (1988) definitions with the
O(n1 n0) kernel psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise; (2) the "fast DeLong" mid-rank
algorithm of Sun & Xu (2014). The script checks that both agree before printing.
"""
import json

import numpy as np
from scipy import optimize, stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import (brier_score_loss, confusion_matrix, f1_score, precision_score,
                             recall_score, roc_auc_score, roc_curve, accuracy_score)
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

# Fixed vectors (48 patients, 20 CAD). Model A is coarse (one decimal: many ties), model B finer.
Y = [1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0,
     1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1]
A = [0.6, 0.5, 0.1, 0.3, 0.5, 0.2, 0.8, 0.3, 0.8, 0.5, 0.8, 1.0, 0.0, 0.5, 0.3, 0.2, 0.7, 1.0, 0.0, 0.8,
     0.4, 0.8, 0.5, 0.3, 0.9, 1.0, 0.7, 0.8, 0.7, 0.3, 0.0, 0.2, 0.8, 1.0, 0.6, 0.0, 0.6, 0.4, 0.0, 0.2,
     0.3, 1.0, 1.0, 0.2, 0.2, 0.2, 0.6, 0.7]
B = [0.64, 0.42, 0.33, 0.31, 0.13, 0.35, 0.61, 0.58, 0.83, 0.7, 0.83, 0.63, 0.56, 0.35, 0.47, 0.09, 0.42,
     0.36, 0.0, 0.64, 0.17, 0.73, 0.8, 0.18, 0.58, 0.74, 0.8, 0.66, 0.66, 0.49, 0.45, 0.14, 0.68, 0.71,
     0.14, 0.4, 0.53, 0.54, 0.39, 0.37, 0.23, 0.68, 0.3, 0.12, 0.42, 0.0, 0.52, 0.35]
y, a, b = np.array(Y), np.array(A), np.array(B)
out = {}


def threshold_metrics(p, t):
    pred = (p >= t).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return dict(tp=int(tp), fp=int(fp), tn=int(tn), fn=int(fn),
                accuracy=accuracy_score(y, pred), sensitivity=recall_score(y, pred),
                specificity=recall_score(1 - y, 1 - pred), precision=precision_score(y, pred),
                f1=f1_score(y, pred))


for name, p in (('A', a), ('B', b)):
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    out[name] = dict(auc=roc_auc_score(y, p), at05=threshold_metrics(p, 0.5), at035=threshold_metrics(p, 0.35),
                     roc=dict(fpr=fpr.tolist(), tpr=tpr.tolist(), thr=thr[1:].tolist()),
                     brier=brier_score_loss(y, p))
    for strategy in ('uniform', 'quantile'):
        frac, mean = calibration_curve(y, p, n_bins=5 if strategy == 'quantile' else 10, strategy=strategy)
        # ECE/MCE with the same binning as sklearn's calibration_curve (searchsorted on inner edges).
        nb = 5 if strategy == 'quantile' else 10
        edges = np.percentile(p, np.linspace(0, 1, nb + 1) * 100) if strategy == 'quantile' else np.linspace(0, 1, nb + 1)
        ids = np.searchsorted(edges[1:-1], p)
        counts = np.bincount(ids, minlength=nb)
        nz = counts > 0
        gap = np.abs(np.bincount(ids, weights=y, minlength=nb)[nz] / counts[nz]
                     - np.bincount(ids, weights=p, minlength=nb)[nz] / counts[nz])
        out[name]['cal_' + strategy] = dict(frac=frac.tolist(), mean=mean.tolist(), counts=counts[nz].tolist(),
                                            ece=float(np.sum(counts[nz] / len(p) * gap)), mce=float(gap.max()))


# --- DeLong, two independent implementations ---
def delong_direct(y, preds):
    pos = [np.asarray(p)[y == 1] for p in preds]
    neg = [np.asarray(p)[y == 0] for p in preds]
    v10, v01, aucs = [], [], []
    for X, Yn in zip(pos, neg):
        psi = (X[:, None] > Yn[None, :]) + 0.5 * (X[:, None] == Yn[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    S = np.cov(np.array(v10)) / len(v10[0]) + np.cov(np.array(v01)) / len(v01[0])
    return np.array(aucs), np.atleast_2d(S)


def delong_fast(y, preds):  # Sun & Xu (2014)
    order = np.argsort(-y, kind='stable')
    m = int(y.sum())
    P = np.array(preds)[:, order]
    k, n = P.shape[0], P.shape[1] - m
    tx = np.array([stats.rankdata(P[r, :m]) for r in range(k)])
    ty = np.array([stats.rankdata(P[r, m:]) for r in range(k)])
    tz = np.array([stats.rankdata(P[r, :]) for r in range(k)])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    S = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, S


aucs, S = delong_direct(y, [a, b])
aucs2, S2 = delong_fast(y, [a, b])
assert np.allclose(aucs, aucs2, atol=1e-14, rtol=0) and np.allclose(S, S2, atol=1e-14, rtol=0)
diff = aucs[0] - aucs[1]
se = np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
z = diff / se
zq = stats.norm.ppf(0.975)
out['delong'] = dict(aucA=aucs[0], aucB=aucs[1], varA=S[0, 0], varB=S[1, 1], covAB=S[0, 1], se=se, z=z,
                     p=2 * stats.norm.sf(abs(z)), ciDiff=[diff - zq * se, diff + zq * se],
                     seA=np.sqrt(S[0, 0]), ciA=[aucs[0] - zq * np.sqrt(S[0, 0]), aucs[0] + zq * np.sqrt(S[0, 0])])

# --- McNemar ---
ca, cb = (a >= 0.5).astype(int) == y, (b >= 0.5).astype(int) == y
bb, cc = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
table = [[int(np.sum(ca & cb)), bb], [cc, int(np.sum(~ca & ~cb))]]
r_ex, r_chi = mcnemar(table, exact=True), mcnemar(table, exact=False, correction=True)
out['mcnemar_AB'] = dict(b=bb, c=cc, exact_stat=r_ex.statistic, exact_p=r_ex.pvalue,
                         chi2_stat=r_chi.statistic, chi2_p=r_chi.pvalue)
for b_, c_ in ((3, 11), (30, 15), (20, 20), (9, 1)):
    t = [[10, b_], [c_, 20]]
    k, n = min(b_, c_), b_ + c_
    out[f'mcnemar_{b_}_{c_}'] = dict(exact_stat=mcnemar(t, exact=True).statistic, exact_p=mcnemar(t, exact=True).pvalue,
                                     mid_p=2 * stats.binom.cdf(k, n, 0.5) - stats.binom.pmf(k, n, 0.5),
                                     chi2_stat=mcnemar(t, exact=False, correction=True).statistic,
                                     chi2_p=mcnemar(t, exact=False, correction=True).pvalue)

# --- Wilson ---
out['wilson'] = {f'{k}/{n}@{lvl}': list(proportion_confint(k, n, alpha=1 - lvl, method='wilson'))
                 for k, n, lvl in ((0, 10, 0.95), (10, 10, 0.95), (7, 20, 0.95), (37, 48, 0.95), (37, 48, 0.9), (1, 3, 0.99))}

# --- Temperature scaling: NLL-minimising T on logits of model B (clipped at 1e-6), by SciPy ---
eps = 1e-6
zb = np.log(np.clip(b, eps, 1 - eps) / (1 - np.clip(b, eps, 1 - eps)))


def nll(T):
    s = zb / T
    return np.mean(np.logaddexp(0, s) - y * s)


res = optimize.minimize_scalar(nll, bounds=(0.01, 100), method='bounded', options=dict(xatol=1e-10))
out['temperature_B'] = dict(T=res.x, nll=res.fun, nll_T1=nll(1.0))

print(json.dumps(out, indent=1, default=float))
