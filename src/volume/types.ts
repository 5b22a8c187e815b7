/**
 * A reconstructed SPECT volume and the 3-D geometry the volume pipeline shares.
 *
 * Conventions (every module of `src/volume` uses them):
 * - `data` is stored x fastest, then y, then z: voxel (i, j, k) is `data[i + nx * (j + ny * k)]`.
 * - `affine` maps voxel indices (i, j, k) to patient coordinates in millimetres in the NIfTI
 *   RAS+ convention: +x towards the patient's right, +y anterior, +z superior (DICOM's LPS+
 *   coordinates are converted on reading: x and y change sign).
 */
export type Vec3 = readonly [number, number, number];

/** Row-major 3 x 4 matrix [R | t]: world = R * (i, j, k) + t. */
export type Affine = readonly number[];

export interface Volume {
  /** what the volume was read from (path), for messages */
  readonly source: string;
  readonly dims: Vec3;
  /** voxel size in mm along i, j, k (column norms of the affine) */
  readonly spacing: Vec3;
  readonly affine: Affine;
  /** counts (after any rescale slope / intercept) */
  readonly data: Float32Array;
}

/** Patient directions in RAS+ world coordinates. */
export const WORLD = {
  left: [-1, 0, 0] as Vec3,
  anterior: [0, 1, 0] as Vec3,
  superior: [0, 0, 1] as Vec3,
} as const;

export const add = (a: Vec3, b: Vec3): Vec3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const scale = (a: Vec3, s: number): Vec3 => [a[0] * s, a[1] * s, a[2] * s];
export const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const norm = (a: Vec3): number => Math.hypot(a[0], a[1], a[2]);
export const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
export function normalize(a: Vec3): Vec3 {
  const n = norm(a);
  return n > 0 ? scale(a, 1 / n) : [0, 0, 0];
}
/** Angle between two directions in degrees (0..180). */
export function angleDeg(a: Vec3, b: Vec3): number {
  const c = dot(normalize(a), normalize(b));
  return (Math.acos(Math.max(-1, Math.min(1, c))) * 180) / Math.PI;
}

/** A diagonal affine (axes aligned with RAS+) with the given spacing and origin. */
export function diagonalAffine(spacing: Vec3, origin: Vec3 = [0, 0, 0]): Affine {
  return [spacing[0], 0, 0, origin[0], 0, spacing[1], 0, origin[1], 0, 0, spacing[2], origin[2]];
}

/** World position (mm) of voxel (i, j, k). */
export function voxelToWorld(a: Affine, i: number, j: number, k: number): Vec3 {
  return [
    a[0] * i + a[1] * j + a[2] * k + a[3],
    a[4] * i + a[5] * j + a[6] * k + a[7],
    a[8] * i + a[9] * j + a[10] * k + a[11],
  ];
}

/** The inverse of an affine (world mm -> voxel indices). */
export function invertAffine(a: Affine): Affine {
  const [m00, m01, m02, t0, m10, m11, m12, t1, m20, m21, m22, t2] = a;
  const det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20);
  if (Math.abs(det) < 1e-12) throw new Error('singular volume affine');
  const inv = [
    (m11 * m22 - m12 * m21) / det,
    (m02 * m21 - m01 * m22) / det,
    (m01 * m12 - m02 * m11) / det,
    (m12 * m20 - m10 * m22) / det,
    (m00 * m22 - m02 * m20) / det,
    (m02 * m10 - m00 * m12) / det,
    (m10 * m21 - m11 * m20) / det,
    (m01 * m20 - m00 * m21) / det,
    (m00 * m11 - m01 * m10) / det,
  ];
  const t: Vec3 = [t0, t1, t2];
  const ti = [0, 1, 2].map((r) => -(inv[r * 3] * t[0] + inv[r * 3 + 1] * t[1] + inv[r * 3 + 2] * t[2]));
  return [inv[0], inv[1], inv[2], ti[0], inv[3], inv[4], inv[5], ti[1], inv[6], inv[7], inv[8], ti[2]];
}

/** Column norms of the affine: the voxel size along i, j, k. */
export function affineSpacing(a: Affine): Vec3 {
  return [Math.hypot(a[0], a[4], a[8]), Math.hypot(a[1], a[5], a[9]), Math.hypot(a[2], a[6], a[10])];
}

/** Eigen-decomposition of a symmetric 3 x 3 matrix (cyclic Jacobi); eigenvalues descending. */
export function symmetricEigen3(m: readonly number[]): { values: Vec3; vectors: [Vec3, Vec3, Vec3] } {
  const a = [
    [m[0], m[1], m[2]],
    [m[3], m[4], m[5]],
    [m[6], m[7], m[8]],
  ];
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off < 1e-20) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p];
        const akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k];
        const aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p];
        const vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((x, y) => a[y][y] - a[x][x]);
  const values = order.map((i) => a[i][i]) as unknown as Vec3;
  const vectors = order.map((i) => [v[0][i], v[1][i], v[2][i]] as Vec3) as [Vec3, Vec3, Vec3];
  return { values, vectors };
}
