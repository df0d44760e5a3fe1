/**
 * The copies a replay buffer keeps of the bytes it sent (the caller may
 * reuse its own buffer once `send()` has it), made in buffers that are
 * recycled once the peer acknowledges them. A fresh `ArrayBuffer` per
 * binary message costs more than the rest of the message's way out: its
 * allocation, and the full garbage collections its external memory brings
 * on. A copy sits at the start of a buffer of its size class (powers of
 * two in quarter steps, so at most a fifth of it is slack), shared by every
 * session of the process; at most {@linkcode MAX_FREE} bytes of buffers
 * wait for reuse. Internal; runs in browsers.
 *
 * @module
 */

/** The smallest size class: smaller copies take a buffer of this size. */
const MIN_CLASS = 64;
/** Copies over this size get a buffer of their own, never recycled. */
export const MAX_POOLED = 256 * 1024;
/** Bytes of buffers kept for reuse, at most, for the whole process. */
export const MAX_FREE = 4 * 1024 * 1024;

const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;

/**
 * The size of the buffer a copy of `size` bytes takes.
 *
 * @param size The copy's size, at most {@linkcode MAX_POOLED}.
 * @returns 64, or the next power of two or quarter step between two.
 */
export function sizeClass(size: number): number {
  if (size <= MIN_CLASS) return MIN_CLASS;
  const below = 2 ** (31 - Math.clz32(size - 1));
  const step = below / 4;
  return below + Math.ceil((size - below) / step) * step;
}

/**
 * A copy of `data` that nothing else can change.
 *
 * @param data The bytes.
 * @returns A `Uint8Array` at the start of a recyclable buffer, or, over
 * {@linkcode MAX_POOLED} bytes, an `ArrayBuffer` of its own.
 */
export function copyBytes(
  data: ArrayBuffer | ArrayBufferView,
): Uint8Array | ArrayBuffer {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = bytes.byteLength;
  if (size > MAX_POOLED) return bytes.slice().buffer;
  const bytesClass = sizeClass(size);
  let buffer = free.get(bytesClass)?.pop();
  if (buffer === undefined) buffer = new ArrayBuffer(bytesClass);
  else freeBytes -= bytesClass;
  const copy = new Uint8Array(buffer, 0, size);
  copy.set(bytes);
  return copy;
}

/**
 * Gives a copy's buffer back for reuse: call it only once nothing will read
 * the copy again (the peer acknowledged it).
 *
 * @param copy A copy from {@linkcode copyBytes}, or anything else (ignored).
 */
export function recycle(copy: unknown): void {
  if (!(copy instanceof Uint8Array)) return;
  const buffer = copy.buffer as ArrayBuffer;
  const bytesClass = buffer.byteLength;
  if (freeBytes + bytesClass > MAX_FREE) return;
  let list = free.get(bytesClass);
  if (list === undefined) free.set(bytesClass, list = []);
  list.push(buffer);
  freeBytes += bytesClass;
}
