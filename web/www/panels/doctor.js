// Panel 4: the reward doctor (rewardkit-core distances, regrets and optimal policies).
import { $, h, fmt, show, showResult, guarded, ARROWS } from '../util.js';
import { drawGrid } from './distances.js';

const NAMES = ['up', 'right', 'down', 'left'];

export function mountDoctor(rk) {
  const world = new rk.World(4, 4, 0.1, 0.9);
  const examples = JSON.parse(rk.World.examples());
  const err = $('doc-error');
  const sides = [
    { which: 0, pick: $('doc-ref-pick'), text: $('doc-ref-text'), initial: 'goal' },
    { which: 1, pick: $('doc-prop-pick'), text: $('doc-prop-text'), initial: 'goal-progress' },
  ];

  function report() {
    guarded(err, () => {
      const d = JSON.parse(world.diagnose());
      const verdict = $('doc-verdict');
      verdict.textContent = d.verdict;
      verdict.dataset.relation = d.relation;
      verdict.dataset.alpha = d.alpha === null ? '' : String(d.alpha);
      showResult($('doc-starc'), d.distances.starc);
      showResult($('doc-starc-minimal'), d.distances.starc_minimal);
      showResult($('doc-epic'), d.distances.epic);
      showResult($('doc-dard'), d.distances.dard);
      show($('doc-regret'), d.regret);
      show($('doc-nregret'), d.normalized_regret);
      show($('doc-rev-regret'), d.reverse_regret);
      show($('doc-rev-nregret'), d.reverse_normalized_regret);
      const lost = new Map(d.disagreements.map((x) => [x.state, x]));
      drawGrid($('doc-grid'), world, 0, null, (cell, s) => {
        const x = lost.get(s);
        if (x) {
          cell.classList.add('disagree');
          cell.append(h('span', { class: 'arrow alt', title: `proposal: ${NAMES[x.proposed_action]}` }, ARROWS[x.proposed_action]));
          cell.append(h('span', { class: 'label' }, `−${fmt(x.value_lost)}`));
        }
      });
      const w = world.width;
      $('doc-disagree').replaceChildren(...(d.disagreements.length
        ? d.disagreements.map((x) => h('li', { 'data-state': String(x.state), 'data-value': String(x.value_lost) },
          `cell (${x.state % w}, ${Math.floor(x.state / w)}): the reference moves ${NAMES[x.reference_action]}, the proposal ${NAMES[x.proposed_action]}, losing `,
          h('output', { class: 'num', 'data-value': String(x.value_lost) }, fmt(x.value_lost)),
          ' of reference value'))
        : [h('li', {}, 'none: an optimal policy of the proposal is optimal for the reference')]));
    });
  }

  for (const side of sides) {
    for (const ex of examples) side.pick.append(h('option', { value: ex.name, title: ex.description }, `${ex.name}: ${ex.description}`));
    side.pick.append(h('option', { value: 'custom' }, 'custom (typed or pasted below)'));
    side.pick.value = side.initial;
    const load = () => {
      if (side.pick.value === 'custom') return;
      guarded(err, () => {
        world.load_example(side.which, side.pick.value);
        side.text.value = JSON.parse(world.view(side.which)).text;
      });
      report();
    };
    side.pick.addEventListener('change', load);
    side.text.addEventListener('input', () => {
      side.pick.value = 'custom';
      if (guarded(err, () => world.load(side.which, side.text.value))) report();
    });
    load();
  }
}
