// Panel 1: a length reward against the response length (values from rewardkit-core).
import { $, h, show, guarded } from '../util.js';
import { linePlot } from '../plot.js';

const POINTS = 600;
// A length range that shows each method's shape with its default parameters.
const XMAX = { hapo: 4000, laser: 8192, cosine: 16384, overlong: 24576, l1: 8192 };

export function mountShaping(rk) {
  const methods = JSON.parse(rk.shaping_methods());
  const select = $('shaping-method');
  const params = $('shaping-params');
  const err = $('shaping-error');
  const slider = $('shaping-length');
  const xmax = $('shaping-xmax');
  for (const m of methods) select.append(h('option', { value: m.name }, m.name));

  function buildParams() {
    const m = methods.find((x) => x.name === select.value);
    $('shaping-title').textContent = m.title;
    $('shaping-correctness').disabled = !m.additive;
    params.replaceChildren(...m.params.map((p) => {
      const input = p.choices.length
        ? h('select', { id: `shaping-param-${p.name}` }, ...p.choices.map((c) => h('option', { value: c, selected: c === p.default }, c)))
        : h('input', { type: 'number', id: `shaping-param-${p.name}`, value: p.default, min: p.min, max: p.max, step: p.step });
      input.dataset.param = p.name;
      return h('label', {}, p.label, input);
    }));
  }

  function redraw() {
    guarded(err, () => {
      const inputs = [...params.querySelectorAll('[data-param]')];
      const names = inputs.map((i) => i.dataset.param);
      const values = inputs.map((i) => i.value);
      const withC = $('shaping-correctness').checked;
      const top = Math.max(2, Math.floor(Number(xmax.value)) || 2);
      slider.max = String(top);
      const lengths = new Uint32Array(POINTS);
      for (let i = 0; i < POINTS; i++) lengths[i] = 1 + Math.round((i * (top - 1)) / (POINTS - 1));
      const curve = rk.shaping_curve(select.value, names, values, lengths, withC);
      const probe = Number(slider.value);
      const at = rk.shaping_curve(select.value, names, values, new Uint32Array([probe]), withC);
      $('shaping-length-value').textContent = String(probe);
      show($('shaping-correct'), at.correct[0]);
      show($('shaping-wrong'), at.wrong[0]);
      linePlot($('shaping-plot'), {
        xs: lengths,
        series: [
          { ys: curve.correct, color: '#1f8a4c', label: 'correct' },
          { ys: curve.wrong, color: '#c0392b', label: 'incorrect' },
        ],
        marker: probe,
        xLabel: 'response length (tokens)',
      });
      curve.free();
      at.free();
    });
  }

  select.addEventListener('change', () => {
    buildParams();
    xmax.value = String(XMAX[select.value] ?? 8192);
    redraw();
  });
  params.addEventListener('input', redraw);
  params.addEventListener('change', redraw);
  for (const id of ['shaping-correctness', 'shaping-xmax', 'shaping-length']) {
    $(id).addEventListener('input', redraw);
    $(id).addEventListener('change', redraw);
  }
  window.addEventListener('resize', redraw);
  buildParams();
  redraw();
}
