#!/usr/bin/python3
"""Reference values for test/models/logistic.test.ts, computed independently of polarcad's TypeScript
with scikit-learn, polished by SciPy's trust-region Newton (Debian 12: apt-get install python3-sklearn; scikit-learn 1.2.1, SciPy 1.10.1, NumPy 1.24.2).

    /usr/bin/python3 test/models/reference/logistic_reference.py > test/models/reference/logistic.json

The design matrices are written out in full, so the tests need no Python and no random generator
shared between the two languages.
"""
import json

import numpy as np
from scipy import optimize
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(20261204)


def case(n, p, C, weighted):
    X = rng.normal(size=(n, p)).round(3)
    beta = rng.normal(size=p)
    z = X @ beta / np.sqrt(p) + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(int)
    w = rng.uniform(0.5, 2.0, size=n).round(3) if weighted else None
    m = LogisticRegression(C=C, tol=1e-12, max_iter=100000, solver="lbfgs")
    m.fit(X, y, sample_weight=w)
    # polish sklearn's solution with SciPy's trust-region Newton on the same objective, then check
    # that the gradient vanishes
    s_ = np.ones(n) if w is None else w
    Xb = np.hstack([X, np.ones((n, 1))])
    pen = np.r_[np.ones(p), 0.0]

    def f(t):
        z = Xb @ t
        return C * np.sum(s_ * np.logaddexp(0, -(2 * y - 1) * z)) + 0.5 * np.sum(pen * t * t)

    def g(t):
        pr = 1 / (1 + np.exp(-(Xb @ t)))
        return C * Xb.T @ (s_ * (pr - y)) + pen * t

    def h(t):
        pr = 1 / (1 + np.exp(-(Xb @ t)))
        return C * (Xb.T * (s_ * pr * (1 - pr))) @ Xb + np.diag(pen)

    t0 = np.r_[m.coef_.ravel(), m.intercept_]
    r = optimize.minimize(f, t0, jac=g, hess=h, method="trust-exact", options={"gtol": 1e-11})
    assert np.max(np.abs(g(r.x))) < 1e-6, f"not converged: {np.max(np.abs(g(r.x)))}"
    assert np.allclose(r.x, t0, atol=1e-3), "SciPy moved far from scikit-learn's solution"
    m2 = m
    m2.coef_ = r.x[:p].reshape(1, -1)
    m2.intercept_ = r.x[p:]
    return {
        "n": n, "p": p, "C": C,
        "X": X.ravel().tolist(), "y": y.tolist(),
        "sampleWeight": None if w is None else w.tolist(),
        "coef": m2.coef_.ravel().tolist(), "intercept": float(m2.intercept_[0]),
        "proba": m2.predict_proba(X)[:, 1].tolist(),
    }


cases = [
    case(60, 5, 1.0, False),      # primal solver (p < n)
    case(40, 8, 0.05, True),      # primal, strong penalty, sample weights
    case(30, 90, 0.3, False),     # dual solver (p > n)
    case(25, 25, 10.0, True),     # dual at p = n, weak penalty, weights
]
print(json.dumps({"sklearn": "1.2.1", "cases": cases}))
