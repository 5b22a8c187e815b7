import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { readImage, decodeImage, grayToByte, DEFAULT_MAX_PIXELS } from '../../src/ingest/readers.js';
import { detectFormat } from '../../src/util/dicom.js';
import { InputError } from '../../src/util/errors.js';
import { makeDicom, TS } from '../helpers/dicom.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-readers-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A deterministic 7 x 5 RGB test pattern (odd sizes catch stride bugs). */
function pattern(width = 7, height = 5): Uint8Array {
  const d = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      d[i] = x * 30;
      d[i + 1] = y * 50;
      d[i + 2] = (x * 17 + y * 29) % 256;
    }
  }
  return d;
}

async function put(name: string, data: Uint8Array | string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

/** A PNG built by hand (PNG spec: signature, IHDR, IDAT, IEND) so the header can lie about the size. */
function handPng(width: number, height: number, idatPayload: Uint8Array): Buffer {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(idatPayload)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

describe('detectFormat', () => {
  it('recognises magic bytes', () => {
    assert.equal(detectFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
    assert.equal(detectFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
    const dcm = new Uint8Array(132);
    dcm.set([0x44, 0x49, 0x43, 0x4d], 128);
    assert.equal(detectFormat(dcm), 'dicom');
    assert.equal(detectFormat(new TextEncoder().encode('patient_id,label\n')), null);
  });
});

describe('readImage: PNG and JPEG', () => {
  it('reads an RGB PNG exactly (lossless)', async () => {
    const px = pattern();
    const p = await put(
      'rgb.png',
      await sharp(px, { raw: { width: 7, height: 5, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const img = await readImage(p);
    assert.equal(img.width, 7);
    assert.equal(img.height, 5);
    assert.deepEqual(Array.from(img.data), Array.from(px));
  });

  it('strips alpha from RGBA and expands grey to RGB', async () => {
    const px = pattern();
    const rgba = new Uint8Array(7 * 5 * 4);
    for (let i = 0; i < 35; i++) {
      rgba.set(px.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = 255; // opaque, so RGB is unchanged by the alpha channel
    }
    const p = await put(
      'rgba.png',
      await sharp(rgba, { raw: { width: 7, height: 5, channels: 4 } })
        .png()
        .toBuffer(),
    );
    assert.deepEqual(Array.from((await readImage(p)).data), Array.from(px));

    const grey = new Uint8Array(35).map((_, i) => i * 7);
    const pg = await put(
      'grey.png',
      await sharp(grey, { raw: { width: 7, height: 5, channels: 1 } })
        .png()
        .toBuffer(),
    );
    const g = await readImage(pg);
    assert.equal(g.data.length, 35 * 3);
    for (let i = 0; i < 35; i++)
      assert.deepEqual(Array.from(g.data.subarray(i * 3, i * 3 + 3)), [i * 7, i * 7, i * 7]);
  });

  it('reads a JPEG by content even with a .png extension', async () => {
    // Smooth 32x32 gradient; JPEG q=100 reproduces it within a few grey levels.
    const w = 32;
    const px = new Uint8Array(w * w * 3);
    for (let i = 0; i < w * w; i++) px.fill(((i % w) * 8) % 256, i * 3, i * 3 + 3);
    const jpg = await sharp(px, { raw: { width: w, height: w, channels: 3 } })
      .jpeg({ quality: 100 })
      .toBuffer();
    const p = await put('actually-jpeg.png', jpg);
    const img = await readImage(p);
    assert.equal(img.width, w);
    let err = 0;
    for (let i = 0; i < px.length; i++) err += Math.abs(img.data[i] - px[i]);
    assert.ok(err / px.length < 3, `mean abs error ${err / px.length}`);
  });
});

describe('readImage: bad input', () => {
  it('decodeImage decodes from memory and names the given source in errors', async () => {
    const png = await sharp(pattern(), { raw: { width: 7, height: 5, channels: 3 } }).png().toBuffer();
    assert.deepEqual(Array.from((await decodeImage(png, 'upload#1')).data), Array.from(pattern()));
    await rejectsWith(decodeImage(new Uint8Array([1, 2, 3, 4]), 'upload#2'), /^upload#2: is not a JPEG, PNG or DICOM file$/);
  });

  it('missing file', async () => {
    const p = join(dir, 'nope.png');
    await rejectsWith(
      readImage(p),
      new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: file not found`),
    );
  });

  it('unreadable: a directory', async () => {
    const p = join(dir, 'adir.png');
    await mkdir(p, { recursive: true });
    await rejectsWith(readImage(p), /adir\.png: is a directory/);
  });

  it('not an image: text and empty files', async () => {
    const p = await put('notes.jpg', 'hello, this is not an image\n');
    await rejectsWith(readImage(p), /notes\.jpg: is not a JPEG, PNG or DICOM file/);
    const e = await put('empty.png', '');
    await rejectsWith(readImage(e), /empty\.png: file is empty/);
  });

  it('truncated JPEG (several cut points) is rejected', async () => {
    const jpg = await sharp(pattern(64, 48), { raw: { width: 64, height: 48, channels: 3 } })
      .jpeg()
      .toBuffer();
    for (const keep of [0.5, 0.9, (jpg.length - 2) / jpg.length]) {
      const p = await put(`trunc-${keep.toFixed(3)}.jpg`, jpg.subarray(0, Math.floor(jpg.length * keep)));
      await rejectsWith(readImage(p), /trunc-[0-9.]+\.jpg: JPEG file is truncated/);
    }
  });

  it('truncated PNG is rejected, even when only the IEND chunk is missing (libpng accepts that)', async () => {
    const png = await sharp(pattern(64, 48), { raw: { width: 64, height: 48, channels: 3 } })
      .png()
      .toBuffer();
    const noIend = await put('noiend.png', png.subarray(0, png.length - 12));
    await rejectsWith(readImage(noIend), /noiend\.png: PNG file is truncated/);
    const half = await put('half.png', png.subarray(0, png.length >> 1));
    await rejectsWith(readImage(half), /half\.png: PNG file is truncated/);
  });

  it('rejects images over the pixel limit from the header, before decoding', async () => {
    const png = await sharp(pattern(100, 100), { raw: { width: 100, height: 100, channels: 3 } })
      .png()
      .toBuffer();
    const p = await put('big.png', png);
    await rejectsWith(
      readImage(p, { maxPixels: 5000 }),
      /big\.png: image has too many pixels \(100 x 100 = 10000 > limit 5000\)/,
    );
    assert.equal((await readImage(p, { maxPixels: 10000 })).width, 100);
    // A "bomb": the header claims 20000 x 20000 (400 MP) but the data is 1 row; decoding would fail
    // differently, so this message proves the limit is checked from the header first.
    const bomb = await put('bomb.png', handPng(20000, 20000, new Uint8Array(1 + 20000 * 3)));
    assert.equal(DEFAULT_MAX_PIXELS, 50_000_000);
    await rejectsWith(
      readImage(bomb),
      /bomb\.png: image has too many pixels \(20000 x 20000 = 400000000 > limit 50000000\)/,
    );
  });
});

describe('readImage: DICOM', () => {
  const W = 5;
  const H = 3;

  it('RGB, planar configuration 0 and 1, explicit and implicit VR little endian', async () => {
    const px = pattern(W, H);
    const planar = new Uint8Array(px.length);
    for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) planar[c * W * H + i] = px[i * 3 + c];
    const common = { rows: H, columns: W, photometric: 'RGB', samplesPerPixel: 3, bitsAllocated: 8 };
    const cases = [
      {
        name: 'rgb0.dcm',
        f: { ...common, transferSyntax: TS.explicitLE, planarConfiguration: 0 as const, pixelData: px },
      },
      {
        name: 'rgb1.dcm',
        f: { ...common, transferSyntax: TS.explicitLE, planarConfiguration: 1 as const, pixelData: planar },
      },
      {
        name: 'rgbi.dcm',
        f: { ...common, transferSyntax: TS.implicitLE, planarConfiguration: 1 as const, pixelData: planar },
      },
    ];
    for (const { name, f } of cases) {
      const img = await readImage(await put(name, makeDicom(f)));
      assert.equal(img.width, W, name);
      assert.equal(img.height, H, name);
      assert.deepEqual(Array.from(img.data), Array.from(px), name);
    }
  });

  it('returns only pixels and geometry, never identifying attributes', async () => {
    const px = pattern(W, H);
    const p = await put(
      'named.dcm',
      makeDicom({
        transferSyntax: TS.explicitLE,
        rows: H,
        columns: W,
        photometric: 'RGB',
        samplesPerPixel: 3,
        bitsAllocated: 8,
        pixelData: px,
        patientName: 'Doe^Jane',
        patientId: 'MRN-99812',
      }),
    );
    const img = await readImage(p);
    assert.deepEqual(Object.keys(img).sort(), ['data', 'height', 'width']);
    assert.equal(img.data.length, W * H * 3);
  });

  it('MONOCHROME2 8 bit is used as is; MONOCHROME1 is inverted', async () => {
    const g = new Uint8Array(W * H).map((_, i) => i * 17); // 0..238
    const base = {
      transferSyntax: TS.explicitLE,
      rows: H,
      columns: W,
      samplesPerPixel: 1,
      bitsAllocated: 8,
      pixelData: g,
    };
    const m2 = await readImage(await put('m2.dcm', makeDicom({ ...base, photometric: 'MONOCHROME2' })));
    const m1 = await readImage(await put('m1.dcm', makeDicom({ ...base, photometric: 'MONOCHROME1' })));
    for (let i = 0; i < W * H; i++) {
      assert.deepEqual(Array.from(m2.data.subarray(i * 3, i * 3 + 3)), [i * 17, i * 17, i * 17]);
      assert.equal(m1.data[i * 3], 255 - i * 17);
    }
  });

  it('MONOCHROME2 16 bit without window is stretched min..max (little and big endian)', async () => {
    // raw = 100 + 200 i, i = 0..14: min 100, max 2900; expected round((raw - 100) * 255 / 2800)
    const raw = Array.from({ length: W * H }, (_, i) => 100 + 200 * i);
    const expected = raw.map((v) => Math.round(((v - 100) * 255) / 2800));
    for (const [ts, le] of [
      [TS.explicitLE, true],
      [TS.explicitBE, false],
    ] as const) {
      const bytes = Buffer.alloc(W * H * 2);
      raw.forEach((v, i) => (le ? bytes.writeUInt16LE(v, i * 2) : bytes.writeUInt16BE(v, i * 2)));
      const f = {
        transferSyntax: ts,
        rows: H,
        columns: W,
        photometric: 'MONOCHROME2',
        samplesPerPixel: 1,
        bitsAllocated: 16,
        bitsStored: 12,
        pixelData: bytes,
      };
      const img = await readImage(await put(`m16-${le ? 'le' : 'be'}.dcm`, makeDicom(f)));
      assert.deepEqual(
        Array.from({ length: W * H }, (_, i) => img.data[i * 3]),
        expected,
        ts,
      );
    }
  });

  it('MONOCHROME2 16 bit signed with rescale and window (DICOM PS3.3 C.11.2.1.2.1)', async () => {
    // Stored signed values s (x even, so s is an integer); modality value x = 2 s - 400; window c = 40, w = 400.
    // Window bounds: x <= 40 - 0.5 - 199.5 = -160 -> 0; x > 239 -> 255; else ((x - 39.5) / 399 + 0.5) * 255.
    const xs = [-1000, -160, -158, 40, 100, 238, 240, 1000, -2, 0, 38, 42, 200, -100, 0];
    const stored = xs.map((x) => (x + 1000) / 2 - 300); // signed, some negative
    const expected = xs.map((x) =>
      x <= -160 ? 0 : x > 239 ? 255 : Math.round(((x - 39.5) / 399 + 0.5) * 255),
    );
    assert.deepEqual(expected.slice(0, 8), [0, 0, 1, 128, 166, 254, 255, 255]); // hand check of the formula
    const bytes = Buffer.alloc(W * H * 2);
    stored.forEach((v, i) => bytes.writeInt16LE(v, i * 2));
    const f = {
      transferSyntax: TS.explicitLE,
      rows: H,
      columns: W,
      photometric: 'MONOCHROME2',
      samplesPerPixel: 1,
      bitsAllocated: 16,
      pixelRepresentation: 1 as const,
      rescaleSlope: 2,
      rescaleIntercept: -400,
      windowCenter: 40,
      windowWidth: 400,
      pixelData: bytes,
    };
    const img = await readImage(await put('m16s.dcm', makeDicom(f)));
    assert.deepEqual(
      Array.from({ length: W * H }, (_, i) => img.data[i * 3]),
      expected,
    );
  });

  it('baseline JPEG (1.2.840.10008.1.2.4.50), one and two fragments', async () => {
    const w = 24;
    const h = 16;
    const jpg = await sharp(pattern(w, h), { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    // Reference: the same JPEG stream decoded directly (same decoder, so identical pixels).
    const ref = await sharp(jpg).raw().toBuffer();
    const base = {
      transferSyntax: TS.jpegBaseline,
      rows: h,
      columns: w,
      photometric: 'YBR_FULL_422',
      samplesPerPixel: 3,
      bitsAllocated: 8,
    };
    const one = await readImage(await put('jpeg1.dcm', makeDicom({ ...base, fragments: [jpg] })));
    assert.deepEqual(Array.from(one.data), Array.from(ref));
    const cut = 100; // even, so the first fragment needs no padding
    const two = await readImage(
      await put('jpeg2.dcm', makeDicom({ ...base, fragments: [jpg.subarray(0, cut), jpg.subarray(cut)] })),
    );
    assert.deepEqual(Array.from(two.data), Array.from(ref));
  });

  it('rejects unsupported transfer syntax, photometric interpretation, truncation and pixel limit', async () => {
    const g = new Uint8Array(W * H);
    const base = {
      transferSyntax: TS.explicitLE,
      rows: H,
      columns: W,
      photometric: 'MONOCHROME2',
      samplesPerPixel: 1,
      bitsAllocated: 8,
      pixelData: g,
    };
    const j2k = await put(
      'j2k.dcm',
      makeDicom({
        ...base,
        transferSyntax: TS.jpeg2000,
        pixelData: undefined,
        fragments: [new Uint8Array([1, 2])],
      }),
    );
    await rejectsWith(
      readImage(j2k),
      /j2k\.dcm: unsupported DICOM transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90/,
    );
    const pal = await put('palette.dcm', makeDicom({ ...base, photometric: 'PALETTE COLOR' }));
    await rejectsWith(
      readImage(pal),
      /palette\.dcm: unsupported DICOM photometric interpretation PALETTE COLOR/,
    );
    const full = makeDicom({ ...base, rows: 40, columns: 40, pixelData: new Uint8Array(1600) });
    const trunc = await put('trunc.dcm', full.subarray(0, full.length - 700));
    await rejectsWith(readImage(trunc), /trunc\.dcm: DICOM file is truncated/);
    const big = await put(
      'big.dcm',
      makeDicom({ ...base, rows: 40, columns: 40, pixelData: new Uint8Array(1600) }),
    );
    await rejectsWith(
      readImage(big, { maxPixels: 1000 }),
      /big\.dcm: image has too many pixels \(40 x 40 = 1600 > limit 1000\)/,
    );
    const notPart10 = Buffer.from(full);
    notPart10.write('DICX', 128, 'latin1');
    await rejectsWith(
      readImage(await put('nopreamble.dcm', notPart10)),
      /nopreamble\.dcm: is not a JPEG, PNG or DICOM file/,
    );
  });
});

describe('grayToByte', () => {
  it('clamps 8-bit data after rescale and stretches flat 16-bit frames to 0', () => {
    const out = grayToByte(new Float64Array([0, 100, 200]), {
      bitsAllocated: 8,
      slope: 2,
      intercept: -10,
      invert: false,
    });
    assert.deepEqual(Array.from(out), [0, 190, 255]); // 2*0-10 -> 0 (clamped), 190, 390 -> 255
    const flat = grayToByte(new Float64Array([7, 7]), {
      bitsAllocated: 16,
      slope: 1,
      intercept: 0,
      invert: false,
    });
    assert.deepEqual(Array.from(flat), [0, 0]);
  });
});
