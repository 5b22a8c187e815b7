/** The part of dcmjs (https://github.com/dcmjs-org/dcmjs) polarcad uses: Part 10 read and write of naturalised datasets. */
declare module 'dcmjs' {
  /** A dataset in dcmjs' "naturalised" form: keyword -> value (sequences as arrays of datasets). */
  type NaturalDataset = Record<string, unknown>;
  class DicomDict {
    constructor(meta: Record<string, unknown>);
    dict: Record<string, unknown>;
    meta: Record<string, unknown>;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: { readFile(buffer: ArrayBuffer): DicomDict };
      DicomMetaDictionary: {
        naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
        denaturalizeDataset(ds: NaturalDataset): Record<string, unknown>;
        uid(): string;
      };
    };
  };
  export default dcmjs;
}
