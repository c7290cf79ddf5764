// Panel 2: advantages of a group of rewards under each estimator and preset (rewardkit-core).
import { $, h, fmt, guarded } from '../util.js';

export function mountAdvantages(rk) {
  const text = $('adv-rewards');
  const table = $('adv-table');
  const err = $('adv-error');

  function redraw() {
    guarded(err, () => {
      const t = JSON.parse(rk.advantage_table(text.value, $('adv-preset').value, Number($('adv-remax').value)));
      const b = t.rewards.length;
      let scale = 0;
      for (const r of t.rows) for (const v of r.values ?? []) scale = Math.max(scale, Math.abs(v));
      const head = h('thead', {},
        h('tr', {}, h('th', {}, 'group'), ...t.groups.map((g) => h('th', {}, String(g)))),
        h('tr', {}, h('th', {}, 'reward'), ...t.rewards.map((r) => h('th', { 'data-value': String(r) }, fmt(r)))));
      const body = h('tbody', {}, ...t.rows.map((r) => {
        const cells = r.values
          ? r.values.map((v) => {
            const bar = h('div', { class: `bar ${v >= 0 ? 'pos' : 'neg'}` });
            bar.style.width = `${scale > 0 ? (50 * Math.abs(v)) / scale : 0}%`;
            return h('td', { class: 'value', 'data-value': String(v), title: String(v) }, bar, h('span', {}, fmt(v)));
          })
          : [h('td', { class: 'row-error', colSpan: b }, r.error)];
        return h('tr', { 'data-estimator': r.estimator }, h('td', { class: 'name' }, r.estimator), ...cells);
      }));
      table.replaceChildren(head, body);
    });
  }

  $('adv-random').addEventListener('click', () => {
    guarded(err, () => {
      text.value = rk.random_rewards(Number($('adv-seed').value) >>> 0, Number($('adv-groups').value) >>> 0, Number($('adv-k').value) >>> 0);
    });
    redraw();
  });
  for (const id of ['adv-rewards', 'adv-preset', 'adv-remax']) {
    $(id).addEventListener('input', redraw);
    $(id).addEventListener('change', redraw);
  }
  redraw();
}
