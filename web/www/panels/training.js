// Panel 5: live training. The tiny GPT of rewardkit-trainer trained with GRPO in the page: a
// supervised warm-up, then GRPO steps with the chosen length shaping (CPU, WebAssembly, one
// thread, in a worker). The training module (pkg-train/) is loaded only when the panel starts.
// Every number shown comes from the trainer's step reports; this module draws them.
import { $, h, show } from '../util.js';
import { linePlot } from '../plot.js';

export function mountTraining() {
  const err = $('train-error');
  const state = $('train-state');
  const buttons = { start: $('train-start'), pause: $('train-pause'), step: $('train-step-once'), reset: $('train-reset') };
  let worker = null;
  let hist = null;
  let info = null;
  let gen = 0; // reset counter: reports of an older run (still in flight) are dropped

  const clear = () => { hist = { wStep: [], wLoss: [], gStep: [], reward: [], accuracy: [], length: [] }; };
  clear();

  function setState(text, running) {
    state.textContent = text;
    state.dataset.running = String(running);
    buttons.start.disabled = running;
    buttons.step.disabled = running;
    buttons.pause.disabled = !running;
  }

  function settings() {
    return {
      seed: Math.max(0, Math.floor(Number($('train-seed').value)) || 0),
      shaping: $('train-shaping').value,
      warmup: Math.max(0, Math.floor(Number($('train-warmup').value)) || 0),
    };
  }

  function draw() {
    if (hist.wStep.length > 1) {
      linePlot($('train-plot-warmup'), { xs: hist.wStep, series: [{ ys: hist.wLoss, color: '#2f5fb3', label: 'warm-up loss' }], xLabel: 'warm-up step' });
    }
    if (hist.gStep.length > 1) {
      linePlot($('train-plot-reward'), {
        xs: hist.gStep,
        series: [
          { ys: hist.reward, color: '#1f8a4c', label: 'reward' },
          { ys: hist.accuracy, color: '#c0392b', label: 'accuracy' },
        ],
        xLabel: 'GRPO step',
      });
      linePlot($('train-plot-length'), { xs: hist.gStep, series: [{ ys: hist.length, color: '#7a4fb3', label: 'mean length' }], xLabel: 'GRPO step' });
    }
  }

  function onStep(r) {
    $('train-phase').textContent = r.phase === 'warmup' ? 'warm-up' : 'GRPO';
    $('train-phase').dataset.value = r.phase;
    show($('train-step'), r.step);
    show($('train-loss'), r.loss);
    show($('train-seconds'), r.seconds);
    show($('train-tps'), Math.round(r.tokens_per_s));
    if (r.phase === 'warmup') {
      hist.wStep.push(r.step); hist.wLoss.push(r.loss);
      if (r.monitor_accuracy !== null) show($('train-monitor'), r.monitor_accuracy);
    } else {
      show($('train-reward'), r.reward);
      show($('train-accuracy'), r.accuracy);
      show($('train-format'), r.format);
      show($('train-length'), r.length);
      show($('train-kl'), r.kl);
      hist.gStep.push(r.step); hist.reward.push(r.reward); hist.accuracy.push(r.accuracy); hist.length.push(r.length);
    }
    // Every report, for the browser test and the curious (the plots draw the same numbers).
    $('train-log').append(h('li', { 'data-phase': r.phase, 'data-step': String(r.step), 'data-report': JSON.stringify(r) }));
    draw();
  }

  function onSamples(samples) {
    $('train-samples').replaceChildren(...samples.map((s) => h('li', { class: s.correct ? 'ok' : 'bad' },
      h('code', {}, s.prompt), ' → ', h('code', {}, s.completion), s.correct ? ' ✓' : (s.well_formed ? ' ✗' : ' ✗ (malformed)'))));
  }

  function reset() {
    clear();
    err.textContent = '';
    for (const id of ['train-monitor', 'train-step', 'train-loss', 'train-seconds', 'train-tps', 'train-reward', 'train-accuracy', 'train-format', 'train-length', 'train-kl']) {
      const o = $(id); o.textContent = '–'; o.dataset.value = '';
    }
    $('train-phase').textContent = '–';
    $('train-log').replaceChildren();
    for (const id of ['train-plot-warmup', 'train-plot-reward', 'train-plot-length']) {
      const c = $(id); c.getContext('2d').clearRect(0, 0, c.width, c.height);
    }
    gen += 1;
    worker.postMessage({ cmd: 'reset', gen, ...settings() });
  }

  function ensureWorker() {
    if (worker) return worker;
    setState('loading the training module…', false);
    worker = new Worker(new URL('../train-worker.js', import.meta.url), { type: 'module' });
    worker.onerror = (e) => { console.error(`training worker: ${e.message}`); err.textContent = e.message; };
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.gen !== gen && (m.type === 'step' || m.type === 'samples' || m.type === 'info')) return;
      if (m.type === 'step') onStep(m.report);
      else if (m.type === 'samples') onSamples(m.samples);
      else if (m.type === 'info') {
        info = m.info;
        $('train-info').textContent = `${info.layers} layers × ${info.width} wide; warm-up on ${info.warmup_batch} demonstrations per step until greedy accuracy on training prompts reaches ${Math.round(100 * info.warmup_target)} % (checked every 10 steps; at most ${info.warmup_steps} steps), then GRPO on ${info.prompts} prompts × ${info.group} samples (≤ ${info.max_new} tokens), shaping ${info.shaping}, seed ${info.seed}`;
        $('train-info').dataset.ready = 'true';
      } else if (m.type === 'paused') setState('paused', false);
      else if (m.type === 'ready') { if (state.dataset.running !== 'true') setState('ready', false); }
      else if (m.type === 'shapings') {
        const page = [...$('train-shaping').options].map((o) => o.value);
        if (JSON.stringify(page) !== JSON.stringify(m.shapings)) console.error(`training: the page offers ${page}, the trainer knows ${m.shapings}`);
      } else if (m.type === 'error') { err.textContent = m.message; console.error(`training: ${m.message}`); }
    };
    worker.postMessage({ cmd: 'shapings' });
    reset();
    return worker;
  }

  buttons.start.addEventListener('click', () => {
    ensureWorker().postMessage({ cmd: 'run' });
    setState('training…', true);
  });
  buttons.step.addEventListener('click', () => {
    ensureWorker().postMessage({ cmd: 'run', steps: 1 });
    setState('one step…', true);
  });
  buttons.pause.addEventListener('click', () => { if (worker) worker.postMessage({ cmd: 'pause' }); });
  buttons.reset.addEventListener('click', () => {
    if (!worker) { ensureWorker(); return; }
    reset();
    setState('reset', false);
  });
  $('train-shaping').addEventListener('change', () => {
    // The shaping applies from the first GRPO step; once GRPO has started, changing it resets.
    if (!worker) return;
    if (hist.gStep.length > 0) { reset(); setState('reset', false); }
    else worker.postMessage({ cmd: 'shaping', shaping: $('train-shaping').value });
  });
  setState('not started (the training module loads on start)', false);
}
