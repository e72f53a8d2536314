import type { default as Sharp, Metadata } from 'sharp';
import exifReader from 'exif-reader';
import { AppError } from '../http/errors.js';

/**
 * sharp (libvips) is loaded with the first photo, not at start: about 28 MiB of a node's idle
 * memory that a node serving no photos never needs.
 */
let sharpLibrary: Promise<typeof Sharp> | null = null;
const loadSharp = () => (sharpLibrary ??= import('sharp').then((m) => m.default as typeof Sharp));

/** Largest photo a situation report may carry (bytes of the original file). */
export const PHOTO_MAX_BYTES = 5 * 1024 * 1024;
/** Decoding bombs: a 5 MiB PNG can claim gigapixels. 50 MP covers any phone camera. */
const MAX_PIXELS = 50_000_000;

export type PhotoType = 'image/jpeg' | 'image/png' | 'image/webp';
const SHARP_FORMAT: Record<PhotoType, string> = { 'image/jpeg': 'jpeg', 'image/png': 'png', 'image/webp': 'webp' };

/** The image type by its magic bytes; what the client claims is never asked. */
export function sniffImageType(b: Uint8Array): PhotoType | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((x, i) => b[i] === x)) return 'image/png';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') return 'image/webp';
  return null;
}

export interface CleanPhoto {
  bytes: Buffer;
  contentType: PhotoType;
  width: number;
  height: number;
  /** Where the camera says it was taken (EXIF GPS), when it says so. */
  gps: { lat: number; lon: number } | null;
}

function dms(v: unknown, ref: unknown, positive: string): number | null {
  if (!Array.isArray(v) || v.length < 1 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  const [d, m = 0, s = 0] = v as number[];
  const deg = d! + m / 60 + s / 3600;
  return ref === positive || ref === undefined ? deg : -deg;
}

/** EXIF GPS → WGS-84 degrees; anything odd (missing refs, out of range, 0/0) is no location. */
export function exifLocation(exif: Buffer | undefined): { lat: number; lon: number } | null {
  if (!exif) return null;
  try {
    const gps = exifReader(exif).GPSInfo as Record<string, unknown> | undefined;
    if (!gps) return null;
    const lat = dms(gps.GPSLatitude, gps.GPSLatitudeRef, 'N');
    const lon = dms(gps.GPSLongitude, gps.GPSLongitudeRef, 'E');
    if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180 || (lat === 0 && lon === 0)) return null;
    return { lat: Math.round(lat * 1e6) / 1e6, lon: Math.round(lon * 1e6) / 1e6 };
  } catch {
    return null;
  }
}

const invalid = (message: string, details: Record<string, unknown> = {}) => new AppError('invalid_photo', message, details);

/**
 * Checks and cleans a report photo: type by magic bytes (and the decoder must agree), size and
 * pixel limits, the EXIF GPS read, then re-encoded by libvips (sharp) in the same format, turned
 * upright by its EXIF orientation, which drops every metadata block — EXIF, XMP, ICC, IPTC,
 * comments — so nothing the camera (or an attacker) wrote in them is stored or served.
 */
export async function cleanPhoto(original: Buffer): Promise<CleanPhoto> {
  const sharp = await loadSharp();
  if (original.length > PHOTO_MAX_BYTES) throw new AppError('payload_too_large', `a photo may have at most ${PHOTO_MAX_BYTES} bytes`, { limit: PHOTO_MAX_BYTES, size: original.length });
  const contentType = sniffImageType(original);
  if (!contentType) throw invalid('the photo is not a JPEG, PNG or WebP image');
  let meta: Metadata;
  try {
    meta = await sharp(original, { limitInputPixels: MAX_PIXELS }).metadata();
  } catch {
    throw invalid('the photo cannot be read', { type: contentType });
  }
  if (meta.format !== SHARP_FORMAT[contentType]) throw invalid('the photo is not what its first bytes say', { type: contentType, decoded: meta.format ?? null });
  if (meta.pages !== undefined && meta.pages > 1) throw invalid('animated images are not photos', { pages: meta.pages });
  const gps = exifLocation(meta.exif);
  try {
    const pipeline = sharp(original, { limitInputPixels: MAX_PIXELS, failOn: 'error' }).rotate();
    const encoded =
      contentType === 'image/jpeg' ? pipeline.jpeg({ quality: 85, mozjpeg: true }) : contentType === 'image/png' ? pipeline.png({ compressionLevel: 9 }) : pipeline.webp({ quality: 85 });
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { bytes: data, contentType, width: info.width, height: info.height, gps };
  } catch {
    throw invalid('the photo cannot be decoded', { type: contentType });
  }
}
