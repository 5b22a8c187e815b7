/**
 * A minimal DICOM Part 10 writer for test fixtures (secondary-capture-like image files).
 * Written from the standard (PS3.5 sections 7.1 and A.4, PS3.10 section 7.1), independently of the
 * reader under test: 128-byte preamble, "DICM", a group-0002 meta header in explicit VR little
 * endian, then the data set in the transfer syntax asked for (implicit VR LE, explicit VR LE,
 * explicit VR BE, or JPEG baseline with encapsulated pixel data).
 */

export interface DicomFixture {
  readonly transferSyntax: string;
  readonly rows: number;
  readonly columns: number;
  readonly photometric: string;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
  readonly bitsStored?: number;
  readonly pixelRepresentation?: 0 | 1;
  readonly planarConfiguration?: 0 | 1;
  readonly rescaleSlope?: number;
  readonly rescaleIntercept?: number;
  readonly windowCenter?: number;
  readonly windowWidth?: number;
  /** Native pixel data (uncompressed transfer syntaxes), already in the right byte order. */
  readonly pixelData?: Uint8Array;
  /** Encapsulated fragments (JPEG transfer syntax): one JPEG stream, possibly split. */
  readonly fragments?: readonly Uint8Array[];
  /** Identifying attributes written into the file, to check that the reader never returns them. */
  readonly patientName?: string;
  readonly patientId?: string;
}

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  explicitBE: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpeg2000: '1.2.840.10008.1.2.4.90',
} as const;

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

export class Writer {
  private readonly chunks: Buffer[] = [];
  constructor(
    private readonly explicit: boolean,
    private readonly littleEndian: boolean,
  ) {}

  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.littleEndian) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.littleEndian) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  }

  element(group: number, elem: number, vr: string, value: Buffer, undefinedLength = false): void {
    const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr);
    const len = undefinedLength ? 0xffffffff : value.length;
    const head: Buffer[] = [this.u16(group), this.u16(elem)];
    if (this.explicit) {
      head.push(Buffer.from(vr, 'latin1'));
      if (long) head.push(Buffer.alloc(2), this.u32(len));
      else head.push(this.u16(len));
    } else {
      head.push(this.u32(len));
    }
    this.chunks.push(...head, value);
  }

  string(group: number, elem: number, vr: string, s: string): void {
    let b = Buffer.from(s, 'latin1');
    if (b.length % 2 === 1) b = Buffer.concat([b, Buffer.from(vr === 'UI' ? '\0' : ' ', 'latin1')]);
    this.element(group, elem, vr, b);
  }

  us(group: number, elem: number, v: number): void {
    this.element(group, elem, 'US', this.u16(v));
  }

  raw(b: Buffer): void {
    this.chunks.push(b);
  }

  item(group: number, elem: number, value: Buffer): void {
    this.chunks.push(this.u16(group), this.u16(elem), this.u32(value.length), value);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Encode a DICOM Part 10 file. */
export function makeDicom(f: DicomFixture): Buffer {
  const ts = f.transferSyntax;
  // Data set
  const explicit = ts !== TS.implicitLE;
  const littleEndian = ts !== TS.explicitBE;
  const d = new Writer(explicit, littleEndian);
  d.string(0x0008, 0x0016, 'UI', SECONDARY_CAPTURE);
  d.string(0x0008, 0x0018, 'UI', '1.2.3.4.5.6.7.8.9');
  if (f.patientName !== undefined) d.string(0x0010, 0x0010, 'PN', f.patientName);
  if (f.patientId !== undefined) d.string(0x0010, 0x0020, 'LO', f.patientId);
  d.us(0x0028, 0x0002, f.samplesPerPixel);
  d.string(0x0028, 0x0004, 'CS', f.photometric);
  if (f.planarConfiguration !== undefined) d.us(0x0028, 0x0006, f.planarConfiguration);
  d.us(0x0028, 0x0010, f.rows);
  d.us(0x0028, 0x0011, f.columns);
  d.us(0x0028, 0x0100, f.bitsAllocated);
  d.us(0x0028, 0x0101, f.bitsStored ?? f.bitsAllocated);
  d.us(0x0028, 0x0102, (f.bitsStored ?? f.bitsAllocated) - 1);
  d.us(0x0028, 0x0103, f.pixelRepresentation ?? 0);
  if (f.windowCenter !== undefined) d.string(0x0028, 0x1050, 'DS', String(f.windowCenter));
  if (f.windowWidth !== undefined) d.string(0x0028, 0x1051, 'DS', String(f.windowWidth));
  if (f.rescaleIntercept !== undefined) d.string(0x0028, 0x1052, 'DS', String(f.rescaleIntercept));
  if (f.rescaleSlope !== undefined) d.string(0x0028, 0x1053, 'DS', String(f.rescaleSlope));
  if (f.fragments) {
    d.element(0x7fe0, 0x0010, 'OB', Buffer.alloc(0), true);
    d.item(0xfffe, 0xe000, Buffer.alloc(0)); // empty basic offset table
    for (const frag of f.fragments) {
      const b =
        frag.length % 2 === 1 ? Buffer.concat([Buffer.from(frag), Buffer.alloc(1)]) : Buffer.from(frag);
      d.item(0xfffe, 0xe000, b);
    }
    d.item(0xfffe, 0xe0dd, Buffer.alloc(0)); // sequence delimitation item
  } else if (f.pixelData) {
    let b = Buffer.from(f.pixelData);
    if (b.length % 2 === 1) b = Buffer.concat([b, Buffer.alloc(1)]);
    d.element(0x7fe0, 0x0010, f.bitsAllocated > 8 ? 'OW' : 'OB', b);
  }
  // Meta header, always explicit VR little endian
  const m = new Writer(true, true);
  m.element(0x0002, 0x0001, 'OB', Buffer.from([0, 1]));
  m.string(0x0002, 0x0002, 'UI', SECONDARY_CAPTURE);
  m.string(0x0002, 0x0003, 'UI', '1.2.3.4.5.6.7.8.9');
  m.string(0x0002, 0x0010, 'UI', ts);
  m.string(0x0002, 0x0012, 'UI', '1.2.3.4');
  const meta = m.bytes();
  const groupLength = new Writer(true, true);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(meta.length);
  groupLength.element(0x0002, 0x0000, 'UL', gl);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    groupLength.bytes(),
    meta,
    d.bytes(),
  ]);
}

/** A nuclear-medicine (or, for bad-input tests, CT) volume or slice as DICOM Part 10, explicit VR LE. */
export interface NmFixture {
  readonly modality: 'NM' | 'CT';
  readonly rows: number;
  readonly columns: number;
  readonly frames: number;
  /** 16-bit unsigned samples, frames * rows * columns, frame by frame */
  readonly samples: Uint16Array;
  readonly pixelSpacing: readonly [number, number];
  readonly spacingBetweenSlices?: number;
  readonly position: readonly [number, number, number];
  readonly orientation: readonly [number, number, number, number, number, number];
  readonly seriesUid?: string;
  /** geometry inside the Detector Information Sequence (as NM multi-frame tomograms do) */
  readonly geometryInSequence?: boolean;
}

const NM_STORAGE = '1.2.840.10008.5.1.4.1.1.20';
const CT_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

/** Encode an NM (or CT) image: geometry, 16-bit MONOCHROME2 samples, explicit VR little endian. */
export function makeNmDicom(f: NmFixture): Buffer {
  const sop = f.modality === 'NM' ? NM_STORAGE : CT_STORAGE;
  const d = new Writer(true, true);
  const ds = (v: readonly number[]): string => v.map((x) => String(x)).join('\\');
  d.string(0x0008, 0x0016, 'UI', sop);
  d.string(0x0008, 0x0018, 'UI', '1.2.3.4.5.6.7.8.10');
  d.string(0x0008, 0x0060, 'CS', f.modality);
  if (f.spacingBetweenSlices !== undefined) d.string(0x0018, 0x0088, 'DS', String(f.spacingBetweenSlices));
  d.string(0x0020, 0x000e, 'UI', f.seriesUid ?? '1.2.3.4.5.99');
  if (!f.geometryInSequence) {
    d.string(0x0020, 0x0032, 'DS', ds(f.position));
    d.string(0x0020, 0x0037, 'DS', ds(f.orientation));
  }
  d.us(0x0028, 0x0002, 1);
  d.string(0x0028, 0x0004, 'CS', 'MONOCHROME2');
  if (f.frames > 1) d.string(0x0028, 0x0008, 'IS', String(f.frames));
  d.us(0x0028, 0x0010, f.rows);
  d.us(0x0028, 0x0011, f.columns);
  d.string(0x0028, 0x0030, 'DS', ds(f.pixelSpacing));
  d.us(0x0028, 0x0100, 16);
  d.us(0x0028, 0x0101, 16);
  d.us(0x0028, 0x0102, 15);
  d.us(0x0028, 0x0103, 0);
  if (f.geometryInSequence) {
    const item = new Writer(true, true);
    item.string(0x0020, 0x0032, 'DS', ds(f.position));
    item.string(0x0020, 0x0037, 'DS', ds(f.orientation));
    const body = item.bytes();
    const seq = new Writer(true, true);
    seq.item(0xfffe, 0xe000, body);
    d.element(0x0054, 0x0022, 'SQ', seq.bytes());
  }
  const px = Buffer.alloc(f.samples.length * 2);
  f.samples.forEach((v, i) => px.writeUInt16LE(v, 2 * i));
  d.element(0x7fe0, 0x0010, 'OW', px);
  const m = new Writer(true, true);
  m.element(0x0002, 0x0001, 'OB', Buffer.from([0, 1]));
  m.string(0x0002, 0x0002, 'UI', sop);
  m.string(0x0002, 0x0003, 'UI', '1.2.3.4.5.6.7.8.10');
  m.string(0x0002, 0x0010, 'UI', TS.explicitLE);
  m.string(0x0002, 0x0012, 'UI', '1.2.3.4');
  const meta = m.bytes();
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(meta.length);
  const g = new Writer(true, true);
  g.element(0x0002, 0x0000, 'UL', gl);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), g.bytes(), meta, d.bytes()]);
}
