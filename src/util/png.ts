import sharp from 'sharp';
import type { RgbImage } from '../domain/image.js';

/** Encode an RGB raster as PNG (sharp). */
export async function encodeRgbPng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}
