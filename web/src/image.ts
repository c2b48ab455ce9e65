// Images as the server takes them: inline data: URLs (it fetches nothing), scaled down first so a
// phone photo does not become a many-megabyte request body.

const MAX_SIDE = 768;

/** The image scaled to at most MAX_SIDE on its long side, as a PNG data: URL. */
export async function imageDataUrl(file: Blob): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL('image/png');
}

/** Why a picked file cannot be used as an image, or null when it can be tried. */
export function notAnImage(file: File): string | null {
  return file.type.startsWith('image/') ? null : `${file.name} is not an image (${file.type || 'unknown type'})`;
}
