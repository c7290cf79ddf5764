// Loads the WebAssembly module and mounts the panels. Each panel is one module in panels/; the
// live-training panel loads the second module (pkg-train/) itself, in a worker, when started.
import init, * as rk from './pkg/rewardkit_web.js';
import { mountShaping } from './panels/shaping.js';
import { mountAdvantages } from './panels/advantages.js';
import { mountDistances } from './panels/distances.js';
import { mountDoctor } from './panels/doctor.js';
import { mountTraining } from './panels/training.js';

async function main() {
  const status = document.getElementById('status');
  await init();
  mountShaping(rk);
  mountAdvantages(rk);
  mountDistances(rk);
  mountDoctor(rk);
  mountTraining(); // loads its own module (pkg-train/) in a worker when started
  status.textContent = `rewardkit-web ${rk.version()}, ready`;
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  document.getElementById('status').textContent = `failed: ${e}`;
  console.error(e);
});
