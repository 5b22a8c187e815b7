/**
 * The one least-squares circle fit (Kasa 1976), optionally weighted: used by disc finding
 * (`ingest/circle-fit.ts`, its trimmed refit) and by the long-axis search of SPECT volumes
 * (`volume/axis.ts`, weighted by counts).
 */

export interface Circle {
  readonly cx: number;
  readonly cy: number;
  readonly r: number;
}

/**
 * Algebraic least-squares circle fit (Kasa 1976): minimises sum w (x^2 + y^2 + D x + E y + F)^2
 * over the first `n` points (weights `ws`, default 1). Coordinates are centred on the weighted mean
 * first for numerical stability; then F = -(Suu + Svv) / W and the centre solves a 2x2 system.
 * Returns undefined for fewer than 3 points, no weight, or a degenerate (collinear) set.
 */
export function fitCircle(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  n = xs.length,
  ws?: ArrayLike<number>,
): Circle | undefined {
  if (n < 3) return undefined;
  const weight = ws === undefined ? () => 1 : (i: number) => ws[i];
  const mean = { x: 0, y: 0, w: 0 };
  for (let i = 0; i < n; i++) {
    const w = weight(i);
    mean.w += w;
    mean.x += w * xs[i];
    mean.y += w * ys[i];
  }
  if (!(mean.w > 0)) return undefined;
  const mx = mean.x / mean.w;
  const my = mean.y / mean.w;
  // weighted central moments of u = x - mx, v = y - my
  const s = { uu: 0, vv: 0, uv: 0, uuu: 0, vvv: 0, uvv: 0, vuu: 0 };
  for (let i = 0; i < n; i++) {
    const w = weight(i);
    const u = xs[i] - mx;
    const v = ys[i] - my;
    const uu = w * u * u;
    const vv = w * v * v;
    s.uu += uu;
    s.vv += vv;
    s.uv += w * u * v;
    s.uuu += uu * u;
    s.vvv += vv * v;
    s.uvv += u * vv;
    s.vuu += v * uu;
  }
  // Solve [Suu Suv; Suv Svv] [uc; vc] = 0.5 [Suuu + Suvv; Svvv + Svuu]
  const det = s.uu * s.vv - s.uv * s.uv;
  if (!(Math.abs(det) > 1e-12 * (s.uu * s.vv + 1e-300))) return undefined;
  const b1 = 0.5 * (s.uuu + s.uvv);
  const b2 = 0.5 * (s.vvv + s.vuu);
  const uc = (b1 * s.vv - b2 * s.uv) / det;
  const vc = (s.uu * b2 - s.uv * b1) / det;
  const r = Math.sqrt(uc * uc + vc * vc + (s.uu + s.vv) / mean.w);
  if (!Number.isFinite(r)) return undefined;
  return { cx: uc + mx, cy: vc + my, r };
}
