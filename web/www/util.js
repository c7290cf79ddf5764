// Display helpers: formatting and DOM. No reward math lives here.

/** A number as the page shows it: 6 significant digits (exponent form below 1e-4 or from 1e6). */
export function fmt(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return x.toExponential(5);
  return String(Number(x.toPrecision(6)));
}

/** A short label (3 significant digits) for dense displays; the full value goes in a title. */
export function fmtShort(x) {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && a < 1e-3) return a < 1e-12 ? '0' : x.toExponential(1);
  return String(Number(x.toPrecision(3)));
}

/** Shows a number in an <output> (text and the full value in data-value). */
export function show(node, x) {
  node.textContent = fmt(x);
  node.dataset.value = String(x);
  node.title = String(x);
}

/** Shows `{value}` or `{error}` (a distance that core reports as undefined). */
export function showResult(node, r) {
  if ('value' in r) {
    show(node, r.value);
    node.classList.remove('undefined');
  } else {
    node.textContent = 'undefined';
    node.dataset.value = '';
    node.title = r.error;
    node.classList.add('undefined');
  }
}

export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** Runs `f`; an error (a rejected input, reported by core) is shown in `errNode`, not thrown. */
export function guarded(errNode, f) {
  try {
    f();
    errNode.textContent = '';
    return true;
  } catch (e) {
    errNode.textContent = e instanceof Error ? e.message : String(e);
    return false;
  }
}

export const ARROWS = ['↑', '→', '↓', '←'];
