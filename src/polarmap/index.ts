/** The polar-map domain: geometry, territories, colour maps, reading uptake, normal limits and scoring. */
export * from './geometry.js';
export * from './territories.js';
export * from './colormaps.js';
export * from './custom-colormap.js';
export * from './read-uptake.js';
export * from './normal-database.js';
export * from './scoring.js';
export * from './recognise-colormap.js';
