/**
 * The page's view of the library's source (build time, Node): `src/layers/dense.ts` as an HTML
 * page with numbered lines, the lines where the feedback matrix V enters highlighted, so that the
 * page can link to the very lines it teaches about. Made from the file as it is at each build, so
 * the link and the lines never drift apart.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The source file the page links to, relative to the repository. */
export const DENSE_SOURCE = 'src/layers/dense.ts';

/**
 * A line of code where V enters: its code (not a comment, nor a line of a TSDoc comment) does
 * something, and its comment says so in the guides' notation, `dX = dY V`.
 */
const V_ENTERS = /^\s*[^\s/*].*\/\/.*dX = dY V/;

/** The source view, and the (1-based) numbers of the lines it highlights. */
export interface SourcePage {
  readonly html: string;
  readonly lines: readonly number[];
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * `src/layers/dense.ts` as a page: every line with its number (and an anchor `#L<n>`), the lines
 * where V enters highlighted.
 *
 * @throws when no line of the file is marked `dX = dY V` any more: the page's link would lead nowhere.
 */
export function densePage(source = readFileSync(fileURLToPath(new URL(`../${DENSE_SOURCE}`, import.meta.url)), 'utf8')): SourcePage {
  const lines = source.split('\n');
  const highlighted = lines.flatMap((text, i) => (V_ENTERS.test(text) ? [i + 1] : []));
  if (highlighted.length === 0) throw new Error(`${DENSE_SOURCE}: no line of code is marked "dX = dY V"; the page links to those lines`);
  const rows = lines.map((text, i) => {
    const n = i + 1;
    return `<tr id="L${n}"${highlighted.includes(n) ? ' class="v"' : ''}><td><a href="#L${n}">${n}</a></td><td>${escape(text)}</td></tr>`;
  });
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${DENSE_SOURCE}: where the feedback matrix V enters</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem; color: #222; }
  p { max-width: 60rem; line-height: 1.45; }
  .code { overflow-x: auto; }
  table { border-collapse: collapse; font: 0.85rem/1.4 ui-monospace, 'DejaVu Sans Mono', monospace; }
  td { white-space: pre; padding: 0 0.6rem; vertical-align: top; }
  td:first-child { text-align: right; color: #888; user-select: none; }
  td:first-child a { color: inherit; text-decoration: none; }
  tr.v { background: #fff3c4; }
  tr:target { outline: 2px solid #E69F00; }
</style>
</head>
<body>
<p><a href="../index.html">← back to the page</a></p>
<h1>${DENSE_SOURCE}</h1>
<p>The dense layer of asymprop, as the page was built with. The highlighted lines (${highlighted.join(' and ')})
are where the feedback matrix V enters: its backward pass sends the error <code>dX = dY V</code> down,
where backprop would send <code>dY W</code>. The guide <code>docs/dense-backward.md</code> walks through them.</p>
<div class="code"><table>
${rows.join('\n')}
</table></div>
</body>
</html>
`;
  return { html, lines: highlighted };
}
