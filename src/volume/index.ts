/** SPECT volumes to polar maps: readers, LV reorientation, ray sampling, QC (docs/volumes.md). */
export * from './types.js';
export * from './limits.js';
export { readVolume, decodeVolume } from './read.js';
export { decodeNifti, encodeNifti } from './nifti.js';
export { decodeDicomVolume, decodeDicomSeries } from './dicom.js';
export { fitLeftVentricle, axisFromAngles, type LvGeometry, type LvOverride } from './lv.js';
export { sampleRays, gridToPolarMap, type RayGrid } from './sample.js';
export { fittedWallMask, dice } from './mask.js';
export { renderQc } from './qc.js';
export * from './pipeline.js';
export { parseOverride } from './override.js';
export { polarmapVolumes, type PolarmapRunOptions } from './run.js';
