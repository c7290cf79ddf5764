// Loads the WebAssembly module and mounts the panels. Each panel is one module in panels/; a new
// panel (the live-training panel after the trainer) adds one import and one mount call here.
import init, * as rk from './pkg/rewardkit_web.js';
import { mountShaping } from './panels/shaping.js';
import { mountAdvantages } from './panels/advantages.js';
import { mountDistances } from './panels/distances.js';
import { mountDoctor } from './panels/doctor.js';

async function main() {
  const status = document.getElementById('status');
  await init();
  mountShaping(rk);
  mountAdvantages(rk);
  mountDistances(rk);
  mountDoctor(rk);
  status.textContent = `rewardkit-web ${rk.version()}, ready`;
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  document.getElementById('status').textContent = `failed: ${e}`;
  console.error(e);
});
