/**
 * The words match the picture (issue 13): for a heatmap with a blob in a known segment, put
 * through the display path (low-resolution map -> `heatmapOnMap` -> `displayedHeatmap`), the
 * territory the sentence names is the territory holding the brightest pixel of the *displayed*
 * heatmap, and the territory with the largest share; the sentence names that pixel's wall and
 * segment. Blobs in LAD, LCx and RCA segments (17-segment geometry of `polarmap/geometry.ts`,
 * AHA territories), at a normal and a CAD probability, and with a weaker second blob elsewhere;
 * and per disc for a 2x2 tile model (the blob on one view's disc: the sentence names that view).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VIEWS, VIEW_CAPTIONS } from '../../src/domain/views.js';
import { attributeHeatmap, attributeTile, wallOf } from '../../src/explain/attribution.js';
import { discMask, displayedHeatmap, evidenceWeight, heatmapOnMap } from '../../src/explain/overlay.js';
import { SEGMENTS, segmentLabels, type SegmentId } from '../../src/polarmap/geometry.js';
import { VESSELS, vesselOf, type Vessel } from '../../src/polarmap/territories.js';

const D = 96; // display raster
const G = 14; // heatmap grid (e.g. a 224-px backbone's CAM layer)

/** Centroid (display pixels) of a segment's pixels on the D x D raster. */
function centroid(seg: SegmentId, size = D): { x: number; y: number } {
  const labels = segmentLabels(size);
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== seg) continue;
    sx += i % size;
    sy += Math.floor(i / size);
    n++;
  }
  return { x: sx / n, y: sy / n };
}

/** A G x G heatmap: Gaussian blobs (sigma in display pixels) at segment centroids, sampled at cell centres. */
function blobMap(blobs: readonly { seg: SegmentId; height: number }[], sigma = 7): Float32Array {
  const map = new Float32Array(G * G);
  for (const b of blobs) {
    const c = centroid(b.seg);
    for (let j = 0; j < G; j++) {
      for (let i = 0; i < G; i++) {
        const x = ((i + 0.5) * D) / G - 0.5;
        const y = ((j + 0.5) * D) / G - 0.5;
        map[j * G + i] += b.height * Math.exp(-((x - c.x) ** 2 + (y - c.y) ** 2) / (2 * sigma * sigma));
      }
    }
  }
  return map;
}

function namedTerritory(sentence: string): Vessel {
  const m = /\((LAD|LCx|RCA) territory/.exec(sentence);
  assert.ok(m !== null, `no territory named in: ${sentence}`);
  return m[1] as Vessel;
}

const CASES: readonly { name: string; blobs: { seg: SegmentId; height: number }[]; want: Vessel }[] = [
  { name: 'LAD, mid anterior', blobs: [{ seg: 7, height: 1 }], want: 'LAD' },
  { name: 'LAD, mid anteroseptal', blobs: [{ seg: 8, height: 1 }], want: 'LAD' },
  { name: 'LCx, mid anterolateral', blobs: [{ seg: 12, height: 1 }], want: 'LCx' },
  { name: 'LCx, mid inferolateral', blobs: [{ seg: 11, height: 1 }], want: 'LCx' },
  { name: 'RCA, mid inferior', blobs: [{ seg: 10, height: 1 }], want: 'RCA' },
  { name: 'RCA, basal inferior', blobs: [{ seg: 4, height: 1 }], want: 'RCA' },
  {
    name: 'RCA mid inferior, weaker LAD mid anterior',
    blobs: [
      { seg: 10, height: 1 },
      { seg: 7, height: 0.5 },
    ],
    want: 'RCA',
  },
  {
    name: 'LCx mid anterolateral, weaker RCA mid inferoseptal',
    blobs: [
      { seg: 12, height: 1 },
      { seg: 9, height: 0.5 },
    ],
    want: 'LCx',
  },
];

describe('the sentence names the territory and wall of the brightest part of the displayed heatmap', () => {
  const labels = segmentLabels(D);
  const mask = discMask(D);
  for (const c of CASES) {
    for (const p of [0.1, 0.95]) {
      test(`${c.name}, P(CAD) = ${p}`, () => {
        const relative = heatmapOnMap(blobMap(c.blobs), G, G, D, mask);
        const shown = displayedHeatmap(relative, evidenceWeight(p));
        const a = attributeHeatmap(relative, D);
        // the brightest displayed pixel and the segment / territory under it
        let best = 0;
        for (let i = 1; i < shown.length; i++) if (shown[i] > shown[best]) best = i;
        assert.ok(Math.abs(shown[best] - p) < 1e-6, `displayed maximum ${shown[best]} = P(CAD)`);
        const seg = labels[best] as SegmentId;
        assert.ok(seg >= 1, 'the brightest pixel lies on the disc');
        const bright = vesselOf(seg);
        assert.equal(bright, c.want, `brightest pixel in segment ${seg}`);
        // words = picture: the named territory holds the brightest pixel and the largest share
        const named = namedTerritory(a.sentence);
        assert.equal(named, bright, a.sentence);
        const largest = [...VESSELS].sort((x, y) => a.territories[y] - a.territories[x])[0];
        assert.equal(named, largest, JSON.stringify(a.territories));
        // ... and the wall and leading segment named are those of the brightest pixel
        assert.match(a.sentence, new RegExp(`\\b${wallOf(seg)}\\b`), a.sentence);
        assert.ok(
          a.sentence.includes(`Leading segment: ${SEGMENTS[seg - 1].name} (segment ${seg},`),
          `${a.sentence} (brightest pixel in segment ${seg})`,
        );
        // the same words from the displayed (weighted) heatmap: shares do not depend on the weight
        assert.equal(attributeHeatmap(shown, D).sentence, a.sentence);
      });
    }
  }
});

describe('2x2 tile model: the words name the disc, territory and wall of the brightest displayed pixel', () => {
  const n = D / 2;
  const labels = segmentLabels(n);
  const mask = discMask(D, 'tile2x2');
  const blobs: readonly { view: number; seg: SegmentId; want: Vessel }[] = [
    { view: 0, seg: 10, want: 'RCA' },
    { view: 1, seg: 7, want: 'LAD' },
    { view: 2, seg: 12, want: 'LCx' },
    { view: 3, seg: 11, want: 'LCx' },
  ];
  for (const b of blobs) {
    test(`${VIEW_CAPTIONS[VIEWS[b.view]]} disc, segment ${b.seg} (${b.want})`, () => {
      const c = centroid(b.seg, n);
      const cx = (b.view % 2) * n + c.x;
      const cy = (b.view >= 2 ? n : 0) + c.y;
      const map = new Float32Array(G * G);
      for (let j = 0; j < G; j++)
        for (let i = 0; i < G; i++) {
          const x = ((i + 0.5) * D) / G - 0.5;
          const y = ((j + 0.5) * D) / G - 0.5;
          map[j * G + i] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 5 * 5));
        }
      const relative = heatmapOnMap(map, G, G, D, mask, 'tile2x2');
      const shown = displayedHeatmap(relative, evidenceWeight(0.8));
      const a = attributeTile(relative, D);
      let best = 0;
      for (let i = 1; i < shown.length; i++) if (shown[i] > shown[best]) best = i;
      const bx = best % D;
      const by = Math.floor(best / D);
      const view = (by >= n ? 2 : 0) + (bx >= n ? 1 : 0);
      assert.equal(view, b.view, 'the brightest pixel lies on the blob\'s disc');
      const seg = labels[(by % n) * n + (bx % n)] as SegmentId;
      assert.ok(seg >= 1);
      assert.equal(vesselOf(seg), b.want);
      assert.equal(namedTerritory(a.sentence), b.want, a.sentence);
      assert.match(a.sentence, new RegExp(`\\b${wallOf(seg)}\\b`), a.sentence);
      assert.ok(a.sentence.includes(`on the ${VIEW_CAPTIONS[VIEWS[b.view]]} map`), a.sentence);
      // per disc: the blob's view names the same territory and holds the largest share of the tile
      assert.equal(namedTerritory(a.views[VIEWS[b.view]].sentence), b.want);
      const lead = [...VIEWS].sort((x, y) => a.viewShares[y] - a.viewShares[x])[0];
      assert.equal(lead, VIEWS[b.view]);
    });
  }
});
