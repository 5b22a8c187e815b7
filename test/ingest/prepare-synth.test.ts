/**
 * Integration: `prepare` on cohorts written by the synthetic generator (src/synth) finds every
 * disc, in export pages and in single-map images, for each built-in colour map, PNG and JPEG,
 * with the grid drawn. Disc positions are checked against the generator's ground truth
 * (ground_truth.csv, columns disc_<view> = "cx,cy,radius" of the drawn disc).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { generateCohort, writeCohort, type Cohort } from '../../src/synth/index.js';
import { BUILTIN_COLORMAPS, getColormap } from '../../src/polarmap/colormaps.js';
import { VIEWS } from '../../src/domain/views.js';
import { prepare } from '../../src/ingest/prepare.js';
import { loadManifest } from '../../src/ingest/manifest.js';
import { readImage } from '../../src/ingest/readers.js';

let dir: string;
let cohort: Cohort;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-prepare-synth-'));
  cohort = generateCohort({ patients: 3, seed: 11, mapSize: 64 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function truthDiscs(
  cohortDir: string,
): Promise<Map<string, { cx: number; cy: number; radius: number }>> {
  const rows = parse(await readFile(join(cohortDir, 'ground_truth.csv'), 'utf8'), {
    columns: true,
  }) as Record<string, string>[];
  const out = new Map<string, { cx: number; cy: number; radius: number }>();
  for (const r of rows) {
    for (const v of VIEWS) {
      const [cx, cy, radius] = r[`disc_${v}`].split(',').map(Number);
      out.set(`${r.patient_id}/${v}`, { cx, cy, radius });
    }
  }
  return out;
}

describe('prepare on synthetic cohorts', () => {
  for (const layout of ['single', 'page'] as const) {
    BUILTIN_COLORMAPS.forEach((cm, i) => {
      // pages are large (vendor-like); two patients are enough to exercise them
      const format = (i + (layout === 'page' ? 1 : 0)) % 2 === 0 ? 'png' : 'jpeg';
      it(`${layout}, ${cm}, ${format}: every disc found where it was drawn`, async () => {
        const src = join(dir, `${layout}-${cm}`);
        const sub: Cohort = layout === 'page' ? { ...cohort, patients: cohort.patients.slice(0, 2) } : cohort;
        await writeCohort(sub, src, { layout, format, colormap: getColormap(cm), grid: true, canvas: 160 });
        const out = join(dir, `${layout}-${cm}-prepared`);
        const report = await prepare(join(src, 'manifest.csv'), { out, size: 64 });
        const n = sub.patients.length;
        assert.deepEqual(report.patients, { total: n, ok: n, skipped: 0 });
        assert.equal(report.images.length, n * 4);
        const truth = await truthDiscs(src);
        for (const r of report.images) {
          const t = truth.get(`${r.patientId}/${r.view}`);
          assert.ok(t && r.disc, `${r.patientId}/${r.view}`);
          assert.equal(r.discsFound, layout === 'page' ? 4 : 1);
          // within 1.5 px or 1% of the radius, whichever is larger
          const tol = Math.max(1.5, 0.01 * t.radius);
          const err = Math.max(
            Math.abs(r.disc.cx - t.cx),
            Math.abs(r.disc.cy - t.cy),
            Math.abs(r.disc.radius - t.radius),
          );
          assert.ok(
            err < tol,
            `${r.patientId}/${r.view}: found ${JSON.stringify(r.disc)}, drawn ${JSON.stringify(t)}`,
          );
          assert.ok((r.gridPixelsFilled ?? 0) > 0, 'grid lines were filled in');
        }
        const m = await loadManifest(join(out, 'manifest.csv'));
        assert.equal(m.rows.length, n);
        for (const row of m.rows) {
          assert.deepEqual(Object.keys(row.views), [...VIEWS]);
          const crop = await readImage(row.views.stress_ac ?? '');
          assert.equal(crop.width, 64);
        }
      });
    });
  }
});
