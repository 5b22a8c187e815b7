/**
 * Rotation augmentation of polar maps, after Apostolopoulos et al. (2020), who enlarged and
 * balanced their training set with randomly rotated copies of the polar maps.
 *
 * Maps are square crops with the disc inscribed (centre ((n-1)/2, (n-1)/2), radius n/2, black
 * outside), as produced by `cleanDisc`. A rotation turns the disc about its centre; angles are
 * in degrees, positive = clockwise on screen (the clock-angle convention of
 * `polarmap/geometry.ts`: +90 moves the anterior wall, at 12 o'clock, to 3 o'clock).
 */
import type { RgbImage } from '../domain/image.js';
import type { Label, View } from '../domain/views.js';
import { VIEWS } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

/** Largest absolute random rotation, degrees. */
export const MAX_ROTATION_DEG = 45;

/** cos and sin of an angle in degrees, exact for multiples of 90. */
function cosSinDeg(deg: number): [number, number] {
  const q = deg / 90;
  if (Number.isInteger(q)) {
    const m = ((q % 4) + 4) % 4;
    return (
      [
        [1, 0],
        [0, 1],
        [-1, 0],
        [0, -1],
      ] as const
    )[m].slice() as [number, number];
  }
  const a = (deg * Math.PI) / 180;
  return [Math.cos(a), Math.sin(a)];
}

/**
 * Rotate a square polar-map image about the disc centre by `degrees` (clockwise positive),
 * bilinear interpolation; pixels outside the inscribed disc are black. Multiples of 90 degrees
 * are exact pixel permutations (inside the disc).
 */
export function rotateMap(img: RgbImage, degrees: number): RgbImage {
  const n = img.width;
  if (img.height !== n) throw new Error(`rotateMap: image must be square, got ${img.width}x${img.height}`);
  if (!Number.isFinite(degrees)) throw new Error(`rotateMap: angle must be finite, got ${degrees}`);
  const [cos, sin] = cosSinDeg(degrees);
  const c = (n - 1) / 2;
  const r2 = (n / 2) * (n / 2);
  const src = img.data;
  const out = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    const dy = y - c;
    for (let x = 0; x < n; x++) {
      const dx = x - c;
      if (dx * dx + dy * dy > r2) continue;
      // inverse map: output (dx, dy) came from the source point rotated counter-clockwise.
      // A clockwise screen rotation by t (y down) maps (u, v) -> (u cos t - v sin t, u sin t + v cos t).
      const sx = c + dx * cos + dy * sin;
      const sy = c - dx * sin + dy * cos;
      let x0 = Math.floor(sx);
      let y0 = Math.floor(sy);
      let fx = sx - x0;
      let fy = sy - y0;
      // snap float noise so exact rotations stay exact
      if (fx < 1e-9) fx = 0;
      else if (fx > 1 - 1e-9) {
        fx = 0;
        x0++;
      }
      if (fy < 1e-9) fy = 0;
      else if (fy > 1 - 1e-9) {
        fy = 0;
        y0++;
      }
      const o = (y * n + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const p00 = pix(src, n, x0, y0, ch);
        const p10 = fx > 0 ? pix(src, n, x0 + 1, y0, ch) : 0;
        const p01 = fy > 0 ? pix(src, n, x0, y0 + 1, ch) : 0;
        const p11 = fx > 0 && fy > 0 ? pix(src, n, x0 + 1, y0 + 1, ch) : 0;
        const v = (1 - fy) * ((1 - fx) * p00 + fx * p10) + fy * ((1 - fx) * p01 + fx * p11);
        out[o + ch] = Math.round(v);
      }
    }
  }
  return { width: n, height: n, data: out };
}

/** Channel value at (x, y), 0 (black) outside the image. */
function pix(src: Uint8Array, n: number, x: number, y: number, ch: number): number {
  if (x < 0 || y < 0 || x >= n || y >= n) return 0;
  return src[(y * n + x) * 3 + ch];
}

/** Rotate every present view of one patient by the same angle. */
export function rotatePatient(
  maps: Partial<Record<View, RgbImage>>,
  degrees: number,
): Partial<Record<View, RgbImage>> {
  const out: Partial<Record<View, RgbImage>> = {};
  for (const v of VIEWS) {
    const m = maps[v];
    if (m) out[v] = rotateMap(m, degrees);
  }
  return out;
}

/** A random rotation angle, uniform in [-45, 45] degrees, never exactly 0. */
export function randomAngle(rng: Rng): number {
  let a = 0;
  while (a === 0) a = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG);
  return a;
}

/**
 * One augmented copy of a patient: ALL of the patient's maps rotated by the same random angle,
 * uniform in [-45, 45] degrees (so stress/rest and AC/NAC stay aligned with each other).
 */
export function augmentPatient(
  maps: Partial<Record<View, RgbImage>>,
  rng: Rng,
): Partial<Record<View, RgbImage>> {
  return rotatePatient(maps, randomAngle(rng));
}

export interface AugmentedItem {
  readonly id: string;
  readonly label: Label;
  /** rotation in degrees; 0 = the original maps */
  readonly angle: number;
}

/**
 * The training list of a class-balanced, augmented set (Apostolopoulos et al. 2020).
 *
 * Rule: the goal of class 0 is floor(target / 2) items and of class 1 is target - floor(target / 2).
 * Every original patient is kept once (angle 0). A class with n_c < goal_c patients gets
 * m_c = goal_c - n_c rotated copies: after a seeded shuffle of that class's patients, every
 * patient gets floor(m_c / n_c) copies and the first (m_c mod n_c) patients one more, each copy
 * with its own random angle in [-45, 45] (never 0). A class already at or above its goal is
 * neither augmented nor trimmed (so it may exceed target / 2). Hence the minority class gets
 * more copies, and both classes reach at least target / 2.
 *
 * Output: grouped by class (0 then 1), within a class by patient id, the original first.
 */
export function balanceByAugmentation(
  patients: readonly { readonly id: string; readonly label: Label }[],
  target: number,
  rng: Rng,
): AugmentedItem[] {
  if (!Number.isInteger(target) || target < 0)
    throw new InputError(`augmentation target must be a non-negative integer, got ${target}`);
  const seen = new Set<string>();
  const byClass: Record<Label, string[]> = { 0: [], 1: [] };
  for (const p of patients) {
    if (p.label !== 0 && p.label !== 1)
      throw new InputError(`augmentation: patient ${p.id} has label ${String(p.label)}, expected 0 or 1`);
    if (seen.has(p.id)) throw new InputError(`augmentation: patient id ${p.id} appears more than once`);
    seen.add(p.id);
    byClass[p.label].push(p.id);
  }
  const goals: Record<Label, number> = { 0: Math.floor(target / 2), 1: target - Math.floor(target / 2) };
  const out: AugmentedItem[] = [];
  for (const label of [0, 1] as const) {
    const ids = byClass[label].slice().sort();
    const goal = goals[label];
    if (ids.length === 0) {
      if (goal > 0)
        throw new InputError(`augmentation: class ${label} has no patients, cannot reach ${goal} items`);
      continue;
    }
    const copies = new Map<string, number[]>(ids.map((id) => [id, []]));
    const m = Math.max(0, goal - ids.length);
    if (m > 0) {
      const classRng = rng.fork(`balance/${label}`);
      const order = classRng.shuffle(ids);
      const each = Math.floor(m / ids.length);
      const extra = m % ids.length;
      order.forEach((id, i) => {
        const k = each + (i < extra ? 1 : 0);
        const list = copies.get(id) as number[];
        for (let j = 0; j < k; j++) list.push(randomAngle(classRng));
      });
    }
    for (const id of ids) {
      out.push({ id, label, angle: 0 });
      for (const angle of copies.get(id) as number[]) out.push({ id, label, angle });
    }
  }
  return out;
}
