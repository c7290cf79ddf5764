// The live-training panel's worker: loads the training module (pkg-train/, a second .wasm with the
// trainer) and runs its steps off the page's main thread, so the page stays responsive while a step
// computes. Every number it posts comes from the trainer (rewardkit-trainer + rewardkit-core);
// this file only schedules steps and forwards their JSON reports.
import init, { TrainingRun, training_shapings } from './pkg-train/rewardkit_web.js';

const ready = init();
let run = null;
let running = false;
let budget = 0;
let gen = 0; // the panel's reset counter, echoed so that it can drop reports of an old run
const SAMPLES = 4;

function post(msg) { self.postMessage({ ...msg, gen }); }
function fail(e) { post({ type: 'error', message: e instanceof Error ? e.message : String(e) }); }

function samples() {
  post({ type: 'samples', samples: JSON.parse(run.samples(SAMPLES)) });
}

// One step per task, so that 'pause' (and 'reset') messages get in between steps; at most one
// step scheduled at a time.
let scheduled = false;
function schedule() {
  if (!scheduled) { scheduled = true; setTimeout(tick, 0); }
}

function tick() {
  scheduled = false;
  if (!running || budget <= 0 || !run) {
    running = false;
    post({ type: 'paused' });
    return;
  }
  try {
    const report = JSON.parse(run.step());
    budget -= 1;
    post({ type: 'step', report });
    if (report.phase === 'grpo' || report.step % 25 === 0) samples();
  } catch (e) {
    running = false;
    fail(e);
  }
  schedule();
}

self.onmessage = async (event) => {
  await ready;
  const m = event.data;
  try {
    if (m.cmd === 'shapings') {
      post({ type: 'shapings', shapings: JSON.parse(training_shapings()) });
    } else if (m.cmd === 'reset') {
      running = false;
      gen = m.gen;
      if (run) run.free();
      run = new TrainingRun(m.seed, m.shaping, m.warmup);
      post({ type: 'info', info: JSON.parse(run.info()) });
      samples();
      post({ type: 'ready' });
    } else if (m.cmd === 'shaping') {
      run.set_shaping(m.shaping);
      post({ type: 'info', info: JSON.parse(run.info()) });
    } else if (m.cmd === 'run') {
      budget = m.steps ?? Infinity;
      running = true;
      schedule();
    } else if (m.cmd === 'pause') {
      running = false;
    }
  } catch (e) {
    fail(e);
  }
};
post({ type: 'loaded' });
