/**
 * How far apart two colours look, to people with normal colour vision and to people with each of
 * the three dichromacies (protanopia, deuteranopia, tritanopia), for the tests of the palettes.
 *
 * A dichromat's view of a colour is simulated with the matrices of Machado, Oliveira & Fernandes
 * (2009) at full severity, applied in linear RGB; the distance is CIEDE2000 (ΔE00) in CIELAB under
 * D65. ΔE00 ≈ 1 is barely noticeable side by side; categorical palettes aim for 10 or more between
 * any two entries, as thin lines and small markers need more difference than large patches.
 */

type Rgb = readonly [number, number, number];
type Matrix = readonly [Rgb, Rgb, Rgb];

/** Colour vision: normal, or one of the dichromacies. */
export type Vision = 'normal' | 'protanopia' | 'deuteranopia' | 'tritanopia';

export const VISIONS: readonly Vision[] = ['normal', 'protanopia', 'deuteranopia', 'tritanopia'];

const DICHROMACY: Record<Exclude<Vision, 'normal'>, Matrix> = {
  protanopia: [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
  deuteranopia: [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]],
  tritanopia: [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.3039]],
};

/** `#rrggbb` (or `#rgb`) as linear RGB in [0, 1]. */
function linearRgb(hex: string): Rgb {
  const h = hex.replace('#', '');
  const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h;
  const channel = (i: number) => {
    const v = parseInt(full.slice(2 * i, 2 * i + 2), 16) / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return [channel(0), channel(1), channel(2)];
}

function seen(rgb: Rgb, vision: Vision): Rgb {
  if (vision === 'normal') return rgb;
  const m = DICHROMACY[vision];
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  return [0, 1, 2].map((i) => clamp(m[i]![0] * rgb[0] + m[i]![1] * rgb[1] + m[i]![2] * rgb[2])) as unknown as Rgb;
}

/** Linear RGB to CIELAB (D65). */
function lab([r, g, b]: Rgb): Rgb {
  const x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
  const y = 0.2126729 * r + 0.7151522 * g + 0.072175 * b;
  const z = (0.0193339 * r + 0.119192 * g + 0.9503041 * b) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

/** CIEDE2000 colour difference of two CIELAB colours. */
function deltaE2000([l1, a1, b1]: Rgb, [l2, a2, b2]: Rgb): number {
  const rad = Math.PI / 180;
  const c1 = Math.hypot(a1, b1), c2 = Math.hypot(a2, b2);
  const cBar7 = ((c1 + c2) / 2) ** 7;
  const g = 0.5 * (1 - Math.sqrt(cBar7 / (cBar7 + 25 ** 7)));
  const a1p = (1 + g) * a1, a2p = (1 + g) * a2;
  const c1p = Math.hypot(a1p, b1), c2p = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1p = hue(b1, a1p), h2p = hue(b2, a2p);
  const dLp = l2 - l1, dCp = c2p - c1p;
  let dhp = 0;
  if (c1p * c2p !== 0) dhp = Math.abs(h2p - h1p) <= 180 ? h2p - h1p : h2p - h1p > 180 ? h2p - h1p - 360 : h2p - h1p + 360;
  const dHp = 2 * Math.sqrt(c1p * c2p) * Math.sin((dhp / 2) * rad);
  const lBarP = (l1 + l2) / 2, cBarP = (c1p + c2p) / 2;
  let hBarP = h1p + h2p;
  if (c1p * c2p !== 0) hBarP = Math.abs(h1p - h2p) <= 180 ? (h1p + h2p) / 2 : h1p + h2p < 360 ? (h1p + h2p + 360) / 2 : (h1p + h2p - 360) / 2;
  const t = 1 - 0.17 * Math.cos((hBarP - 30) * rad) + 0.24 * Math.cos(2 * hBarP * rad) + 0.32 * Math.cos((3 * hBarP + 6) * rad) - 0.2 * Math.cos((4 * hBarP - 63) * rad);
  const sl = 1 + (0.015 * (lBarP - 50) ** 2) / Math.sqrt(20 + (lBarP - 50) ** 2);
  const sc = 1 + 0.045 * cBarP, sh = 1 + 0.015 * cBarP * t;
  const cBarP7 = cBarP ** 7;
  const rt = -2 * Math.sqrt(cBarP7 / (cBarP7 + 25 ** 7)) * Math.sin(60 * Math.exp(-(((hBarP - 275) / 25) ** 2)) * rad);
  return Math.sqrt((dLp / sl) ** 2 + (dCp / sc) ** 2 + (dHp / sh) ** 2 + rt * (dCp / sc) * (dHp / sh));
}

/** How different two `#rrggbb` colours look (ΔE00) to someone with the given colour vision. */
export function colourDistance(a: string, b: string, vision: Vision = 'normal'): number {
  return deltaE2000(lab(seen(linearRgb(a), vision)), lab(seen(linearRgb(b), vision)));
}

/** The closest pair of a palette under any of the four visions, with the distance and the vision. */
export function closestPair(colours: Readonly<Record<string, string>>): { pair: [string, string]; distance: number; vision: Vision } {
  const names = Object.keys(colours);
  let best = { pair: ['', ''] as [string, string], distance: Infinity, vision: 'normal' as Vision };
  for (const vision of VISIONS) {
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const d = colourDistance(colours[names[i]!]!, colours[names[j]!]!, vision);
        if (d < best.distance) best = { pair: [names[i]!, names[j]!], distance: d, vision };
      }
    }
  }
  return best;
}
