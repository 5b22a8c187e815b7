/**
 * L2-regularised (ridge) logistic regression, fitted exactly by Newton's method: the linear
 * classifier behind polarcad's baselines (pixel and segment logistic regression) and its linear
 * heads on frozen CNN features.
 *
 * Objective (scikit-learn's `LogisticRegression(penalty='l2', C)` convention, intercept not
 * penalised, optional per-sample weights s_i):
 *
 *   minimise  C * sum_i s_i * log(1 + exp(-t_i * (x_i . w + b)))  +  ||w||^2 / 2,   t_i = +-1
 *
 * With soft targets q_i in [0, 1] (`targets`: label smoothing, mixup) the data term is the
 * cross-entropy  q_i * log(1 + exp(-z_i)) + (1 - q_i) * log(1 + exp(z_i)),  which is the above
 * when q_i = y_i; its gradient in z_i is sigmoid(z_i) - q_i.
 *
 * Two exact solvers give the same optimum:
 * - primal Newton (p + 1 unknowns) when there are fewer features than samples;
 * - dual/kernel Newton (n + 1 unknowns) otherwise: by the representer theorem w = X^T a, so only
 *   the Gram matrix K = X X^T is needed (Hastie, Tibshirani & Friedman, The Elements of
 *   Statistical Learning, 2nd ed., section 12.3.3 and eq. 4.23-4.26 for the Newton/IRLS step).
 * Both use a backtracking line search on the objective, so every step decreases it.
 */
import { Matrix, solve } from 'ml-matrix';

/** A row-major n x p design matrix. */
export interface Design {
  readonly n: number;
  readonly p: number;
  /** n * p values, row i at [i*p, (i+1)*p) */
  readonly data: Float64Array;
}

/** Options of {@link fitLogistic}. */
export interface LogisticOptions {
  /** inverse regularisation strength (scikit-learn's C), > 0 */
  readonly C: number;
  /** per-sample weights (default 1) */
  readonly sampleWeight?: ArrayLike<number>;
  /** stop when the largest gradient component is below this (default 1e-8) */
  readonly tol?: number;
  /** Newton iterations at most (default 100) */
  readonly maxIter?: number;
  /** Gram matrix X X^T when already computed (dual solver); must match the design */
  readonly gram?: Float64Array;
  /**
   * soft targets q_i in [0, 1] fitted instead of the labels (label smoothing, mixup); the labels
   * must still be given (0/1) and are not used by the fit
   */
  readonly targets?: ArrayLike<number>;
}

/** A fitted logistic regression: P(y=1|x) = sigmoid(x . w + b). */
export interface LogisticFit {
  readonly weights: Float64Array;
  readonly intercept: number;
  readonly iterations: number;
  readonly converged: boolean;
  /** final value of the objective above */
  readonly objective: number;
}

/** log(1 + exp(z)) without overflow. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** The logistic function. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** X v (length n). */
export function matVec(X: Design, v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(X.n);
  for (let i = 0; i < X.n; i++) {
    let s = 0;
    const o = i * X.p;
    for (let j = 0; j < X.p; j++) s += X.data[o + j] * v[j];
    out[i] = s;
  }
  return out;
}

/** X^T u (length p). */
export function matTVec(X: Design, u: ArrayLike<number>): Float64Array {
  const out = new Float64Array(X.p);
  for (let i = 0; i < X.n; i++) {
    const ui = u[i];
    if (ui === 0) continue;
    const o = i * X.p;
    for (let j = 0; j < X.p; j++) out[j] += X.data[o + j] * ui;
  }
  return out;
}

/** The Gram matrix X X^T (n x n, row-major). */
export function gramMatrix(X: Design): Float64Array {
  const { n, p, data } = X;
  const K = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k <= i; k++) {
      let s = 0;
      const a = i * p;
      const b = k * p;
      for (let j = 0; j < p; j++) s += data[a + j] * data[b + j];
      K[i * n + k] = s;
      K[k * n + i] = s;
    }
  }
  return K;
}

function checkInputs(X: Design, y: ArrayLike<number>, o: LogisticOptions): void {
  if (X.data.length !== X.n * X.p)
    throw new RangeError(`design: ${X.data.length} values for ${X.n} x ${X.p}`);
  if (y.length !== X.n) throw new RangeError(`labels: ${y.length} for ${X.n} samples`);
  for (let i = 0; i < y.length; i++)
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`labels: sample ${i} has ${y[i]}, expected 0 or 1`);
  if (!(o.C > 0) || !Number.isFinite(o.C))
    throw new RangeError(`C must be a positive finite number, got ${o.C}`);
  if (o.sampleWeight !== undefined && o.sampleWeight.length !== X.n)
    throw new RangeError(`sampleWeight: ${o.sampleWeight.length} for ${X.n} samples`);
  for (let k = 0; k < X.data.length; k++)
    if (!Number.isFinite(X.data[k])) throw new RangeError(`design: value ${k} is not finite`);
  if (o.targets !== undefined) {
    if (o.targets.length !== X.n) throw new RangeError(`targets: ${o.targets.length} for ${X.n} samples`);
    for (let i = 0; i < o.targets.length; i++)
      if (!(o.targets[i] >= 0 && o.targets[i] <= 1))
        throw new RangeError(`targets: sample ${i} has ${o.targets[i]}, expected a number in [0, 1]`);
  }
}

/** The label smoothing of Szegedy et al. (2016) for two classes: 0 -> eps/2, 1 -> 1 - eps/2. */
export function smoothLabels(y: ArrayLike<number>, eps: number): Float64Array {
  if (!(eps >= 0 && eps < 1)) throw new RangeError(`label smoothing must be in [0, 1), got ${eps}`);
  return Float64Array.from({ length: y.length }, (_, i) => (y[i] === 1 ? 1 - eps / 2 : eps / 2));
}

/** Data term: sum_i s_i * crossentropy(q_i, z_i), and the residuals s_i (p_i - q_i) and weights s_i p_i (1 - p_i). */
function dataTerm(
  z: Float64Array,
  q: ArrayLike<number>,
  s: ArrayLike<number> | undefined,
): { loss: number; r: Float64Array; w: Float64Array } {
  const n = z.length;
  const r = new Float64Array(n);
  const w = new Float64Array(n);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const si = s === undefined ? 1 : s[i];
    const qi = q[i];
    const l =
      qi === 1
        ? softplus(-z[i])
        : qi === 0
          ? softplus(z[i])
          : qi * softplus(-z[i]) + (1 - qi) * softplus(z[i]);
    loss += si * l;
    const pi = sigmoid(z[i]);
    r[i] = si * (pi - qi);
    w[i] = si * pi * (1 - pi);
  }
  return { loss, r, w };
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** Backtracking: the largest step 2^-k (k <= 30) that decreases `f`; returns [step, value]. */
function lineSearch(f: (t: number) => number, f0: number): [number, number] {
  let t = 1;
  for (let k = 0; k < 30; k++, t /= 2) {
    const v = f(t);
    if (v <= f0) return [t, v];
  }
  return [0, f0];
}

/** Primal Newton: unknowns (w, b); Hessian X^T W X + I/C on w (scaled by C throughout). */
function fitPrimal(X: Design, y: ArrayLike<number>, o: LogisticOptions): LogisticFit {
  const { n, p } = X;
  const C = o.C;
  const tol = o.tol ?? 1e-8;
  let wv = new Float64Array(p);
  let b = 0;
  const objective = (wt: Float64Array, bt: number): number => {
    const z = matVec(X, wt);
    for (let i = 0; i < n; i++) z[i] += bt;
    let reg = 0;
    for (let j = 0; j < p; j++) reg += wt[j] * wt[j];
    return C * dataTerm(z, y, o.sampleWeight).loss + reg / 2;
  };
  let f = objective(wv, b);
  for (let it = 1; it <= (o.maxIter ?? 100); it++) {
    const z = matVec(X, wv);
    for (let i = 0; i < n; i++) z[i] += b;
    const { r, w } = dataTerm(z, y, o.sampleWeight);
    const gw = matTVec(X, r);
    let gb = 0;
    for (let i = 0; i < n; i++) gb += r[i];
    for (let j = 0; j < p; j++) gw[j] = C * gw[j] + wv[j];
    gb *= C;
    if (Math.max(maxAbs(gw), Math.abs(gb)) < tol)
      return { weights: wv, intercept: b, iterations: it - 1, converged: true, objective: f };
    // H = C [X 1]^T W [X 1] + diag(1,...,1,0)
    const H = new Matrix(p + 1, p + 1);
    for (let i = 0; i < n; i++) {
      const wi = C * w[i];
      if (wi === 0) continue;
      const oi = i * p;
      for (let a = 0; a < p; a++) {
        const xa = wi * X.data[oi + a];
        for (let c = 0; c <= a; c++) H.set(a, c, H.get(a, c) + xa * X.data[oi + c]);
        H.set(p, a, H.get(p, a) + xa);
      }
      H.set(p, p, H.get(p, p) + wi);
    }
    for (let a = 0; a < p; a++) {
      H.set(a, a, H.get(a, a) + 1);
      for (let c = 0; c < a; c++) H.set(c, a, H.get(a, c));
      H.set(a, p, H.get(p, a));
    }
    if (H.get(p, p) === 0) H.set(p, p, 1e-12);
    const g = Matrix.columnVector([...gw, gb]);
    const d = solve(H, g).to1DArray();
    const [t, fNew] = lineSearch((t) => {
      const wt = wv.map((v, j) => v - t * d[j]);
      return objective(wt, b - t * d[p]);
    }, f);
    if (t === 0) return { weights: wv, intercept: b, iterations: it, converged: true, objective: f };
    wv = wv.map((v, j) => v - t * d[j]);
    b -= t * d[p];
    f = fNew;
  }
  return { weights: wv, intercept: b, iterations: o.maxIter ?? 100, converged: false, objective: f };
}

/**
 * Dual Newton in (a, b) with w = X^T a: the Newton system (W K + I/C) d_a + W 1 d_b = -(r + a/C),
 * 1^T W K d_a + 1^T W 1 d_b = -1^T r is the full Newton step multiplied through by K^-1 on the
 * range of K (exact also when K is singular).
 */
function fitDual(X: Design, y: ArrayLike<number>, o: LogisticOptions): LogisticFit {
  const n = X.n;
  const C = o.C;
  const tol = o.tol ?? 1e-8;
  const K = o.gram ?? gramMatrix(X);
  if (K.length !== n * n) throw new RangeError(`gram: ${K.length} values for ${n} samples`);
  const Kv = (v: ArrayLike<number>): Float64Array => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += K[i * n + k] * v[k];
      out[i] = s;
    }
    return out;
  };
  let a = new Float64Array(n);
  let b = 0;
  const objective = (at: Float64Array, bt: number): number => {
    const Ka = Kv(at);
    let reg = 0;
    for (let i = 0; i < n; i++) reg += at[i] * Ka[i];
    for (let i = 0; i < n; i++) Ka[i] += bt;
    return C * dataTerm(Ka, y, o.sampleWeight).loss + reg / 2;
  };
  let f = objective(a, b);
  let it = 1;
  let converged = false;
  for (; it <= (o.maxIter ?? 100); it++) {
    const z = Kv(a);
    for (let i = 0; i < n; i++) z[i] += b;
    const { r, w } = dataTerm(z, y, o.sampleWeight);
    // residual of the stationarity conditions: C r + a = 0 (on the range of K), sum r = 0
    const res = new Float64Array(n + 1);
    let rb = 0;
    for (let i = 0; i < n; i++) {
      res[i] = C * r[i] + a[i];
      rb += r[i];
    }
    res[n] = C * rb;
    // gradient of the primal objective w.r.t. w is X^T res[0..n): measure it through K
    const ra = res.slice(0, n);
    const Kra = Kv(ra);
    let q = 0;
    for (let i = 0; i < n; i++) q += ra[i] * Kra[i];
    const gradNorm = Math.sqrt(Math.max(0, q));
    if (Math.max(gradNorm, Math.abs(res[n])) < tol) {
      converged = true;
      break;
    }
    const M = new Matrix(n + 1, n + 1);
    let wSum = 0;
    for (let i = 0; i < n; i++) {
      const wi = C * w[i];
      for (let k = 0; k < n; k++) M.set(i, k, wi * K[i * n + k]);
      M.set(i, i, M.get(i, i) + 1);
      M.set(i, n, wi);
      wSum += wi;
    }
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += C * w[i] * K[i * n + k];
      M.set(n, k, s);
    }
    M.set(n, n, wSum === 0 ? 1e-12 : wSum);
    const d = solve(M, Matrix.columnVector([...res])).to1DArray();
    const [t, fNew] = lineSearch(
      (t) =>
        objective(
          a.map((v, i) => v - t * d[i]),
          b - t * d[n],
        ),
      f,
    );
    if (t === 0) {
      converged = true;
      break;
    }
    a = a.map((v, i) => v - t * d[i]);
    b -= t * d[n];
    f = fNew;
  }
  return {
    weights: matTVec(X, a),
    intercept: b,
    iterations: Math.min(it, o.maxIter ?? 100),
    converged,
    objective: f,
  };
}

/**
 * Fit an L2-regularised logistic regression exactly (see the module comment).
 * @throws RangeError for mismatched shapes, labels other than 0/1, targets outside [0, 1],
 * non-finite values or C <= 0.
 * @example
 * const X = { n: 4, p: 1, data: Float64Array.from([0, 1, 2, 3]) };
 * const fit = fitLogistic(X, [0, 0, 1, 1], { C: 1 });
 * predictLogistic(fit, X); // increasing probabilities
 */
export function fitLogistic(X: Design, y: ArrayLike<number>, o: LogisticOptions): LogisticFit {
  checkInputs(X, y, o);
  const q = o.targets ?? y;
  return X.p < X.n && o.gram === undefined ? fitPrimal(X, q, o) : fitDual(X, q, o);
}

/** P(y = 1 | x) for each row of X. */
export function predictLogistic(fit: Pick<LogisticFit, 'weights' | 'intercept'>, X: Design): Float64Array {
  if (fit.weights.length !== X.p)
    throw new RangeError(`model has ${fit.weights.length} weights, design ${X.p} columns`);
  const z = matVec(X, fit.weights);
  return z.map((v) => sigmoid(v + fit.intercept));
}
