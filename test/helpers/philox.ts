// Philox4x32-10 in JavaScript, straight from the description in
// native/core/philox.h, as an independent check of the native randn stream:
//   key = (seed lo, seed hi), counter = (block lo, block hi, 0, 0), block = index / 4
//   round: (c0,c1,c2,c3) <- (hi(M1 c2)^c1^k0, lo(M1 c2), hi(M0 c0)^c3^k1, lo(M0 c0)); k0 += W0; k1 += W1
//   u = ((x >> 8) + 0.5) 2^-24; Box-Muller on lane pairs (0,1), (2,3):
//   z_even = sqrt(-2 ln u_even) cos(2 pi u_odd), z_odd = sqrt(-2 ln u_even) sin(2 pi u_odd)
// JS Math.log/cos/sin are not the native polynomials, so normals agree to
// float32 rounding (a few ulp), while the 32-bit words agree exactly.

/** High 32 bits of a 32x32-bit product, exactly, in double arithmetic. */
function mulhi(a: number, b: number): number {
  const bl = b & 0xffff, bh = b >>> 16;
  const t = a * bl; // < 2^48, exact
  const u = a * bh + Math.floor(t / 65536); // < 2^49, exact
  return Math.floor(u / 65536) >>> 0;
}

export function philox4x32_10(block: number, seed: number): [number, number, number, number] {
  const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
  let c0 = block >>> 0, c1 = Math.floor(block / 4294967296) >>> 0, c2 = 0, c3 = 0;
  let k0 = seed >>> 0, k1 = Math.floor(seed / 4294967296) >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0, n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 = (k0 + W0) >>> 0; k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

export const philoxUniform = (x: number) => (Math.floor(x / 256) + 0.5) / 16777216;

/** Normal sample `index` of stream `seed`, in double precision. */
export function philoxNormalAt(seed: number, index: number): number {
  const r = philox4x32_10(Math.floor(index / 4), seed);
  const lane = index % 4, pair = lane >> 1;
  const u1 = philoxUniform(r[2 * pair]!), u2 = philoxUniform(r[2 * pair + 1]!);
  const radius = Math.sqrt(-2 * Math.log(u1));
  return lane & 1 ? radius * Math.sin(2 * Math.PI * u2) : radius * Math.cos(2 * Math.PI * u2);
}
