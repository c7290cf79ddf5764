// Panel 3: two rewards on a gridworld, their STARC/EPIC/DARD distances and optimal policies.
import { $, h, fmt, fmtShort, showResult, guarded, ARROWS } from '../util.js';

/** Draws reward `which` of `world` into `grid`; editable cells call `onEdit(state, value)`. */
export function drawGrid(grid, world, which, onEdit, extra = () => {}) {
  const v = JSON.parse(world.view(which));
  const w = world.width;
  grid.style.gridTemplateColumns = `repeat(${w}, 84px)`;
  const n = v.policy.length;
  const cells = [];
  for (let s = 0; s < n; s++) {
    const cell = h('div', { class: 'cell', 'data-state': String(s), 'data-action': String(v.policy[s]) });
    cell.append(h('span', { class: 'arrow', title: `optimal move: ${['up', 'right', 'down', 'left'][v.policy[s]]}` }, ARROWS[v.policy[s]]));
    if (onEdit) {
      const input = h('input', { type: 'text', inputMode: 'decimal', 'aria-label': `reward of cell ${s}` });
      if (v.state_reward) input.value = fmt(v.state_reward[s]);
      else {
        input.placeholder = '·';
        input.classList.add('compact');
        input.title = 'this cell\'s reward depends on the move: type a number to make it one value';
        for (let a = 0; a < 4; a++) {
          const x = v.rbar[4 * s + a];
          cell.append(h('span', { class: `edge e${a}`, 'data-value': String(x), title: `expected reward of moving ${['up', 'right', 'down', 'left'][a]}: ${x}` }, fmtShort(x)));
        }
      }
      input.addEventListener('change', () => onEdit(s, input.value));
      cell.append(input);
    }
    extra(cell, s, v);
    cells.push(cell);
  }
  grid.replaceChildren(...cells);
  return v;
}

export function mountDistances(rk) {
  const err = $('dist-error');
  let world = null;

  function rebuild() {
    guarded(err, () => {
      const next = new rk.World(Number($('world-width').value) >>> 0, Number($('world-height').value) >>> 0,
        Number($('world-slip').value), Number($('world-gamma').value));
      if (world) world.free();
      world = next;
    });
    redraw();
  }

  function redraw() {
    if (!world) return;
    guarded(err, () => {
      for (const [which, id] of [[0, 'grid-a'], [1, 'grid-b']]) {
        drawGrid($(id), world, which, (s, value) => act(() => world.set_state_reward(which, s, value.trim() === '' ? NaN : Number(value))));
      }
      const d = JSON.parse(world.distances());
      showResult($('dist-starc'), d.starc);
      showResult($('dist-starc-minimal'), d.starc_minimal);
      showResult($('dist-epic'), d.epic);
      showResult($('dist-dard'), d.dard);
    });
  }

  function act(f) {
    if (guarded(err, f)) redraw();
  }

  const seed = () => Number($('dist-seed').value) >>> 0;
  const mag = () => Number($('dist-mag').value);
  $('dist-scale').addEventListener('click', () => act(() => world.scale(1, Number($('dist-alpha').value))));
  $('dist-shape').addEventListener('click', () => act(() => world.shape(1, seed(), mag())));
  $('dist-redistribute').addEventListener('click', () => act(() => world.redistribute(1, seed(), mag())));
  $('dist-perturb').addEventListener('click', () => act(() => world.perturb(1, seed(), mag())));
  $('dist-copy').addEventListener('click', () => act(() => world.copy(0, 1)));
  $('dist-reset-a').addEventListener('click', () => act(() => world.reset(0)));
  $('dist-reset-b').addEventListener('click', () => act(() => world.reset(1)));
  for (const id of ['world-width', 'world-height', 'world-slip', 'world-gamma']) $(id).addEventListener('change', rebuild);
  rebuild();
}
