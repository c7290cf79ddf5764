// The browser test of the rewardkit demo: serves web/dist on 127.0.0.1, drives every panel in
// headless Chromium as a user would (selects, types, moves the slider, clicks), and compares each
// number the page shows with the value native rewardkit computed for the same inputs
// (target/web-test/expected.json, written by `cargo run -p rewardkit-web --example expected`).
//
//   node web/test/browser.mjs [expected.json] [screenshot.png]
//
// Fails on a wrong number, a missing element, a console error, an uncaught exception, a failed
// request, or any request that leaves 127.0.0.1. Prints "browser: N passed, M failed".
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const dist = path.join(repo, 'web', 'dist');
const expectedPath = process.argv[2] ?? path.join(repo, 'target', 'web-test', 'expected.json');
const screenshotPath = process.argv[3] ?? path.join(repo, 'target', 'web-test', 'demo.png');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
let passed = 0;
const failures = [];

function check(ok, what) {
  if (ok) passed += 1;
  else failures.push(what);
}

// The page shows 6 significant digits; allow that rounding plus a little.
function close(shown, want) {
  return Math.abs(shown - want) <= 1e-9 + 1e-5 * Math.abs(want);
}

async function expectNum(locator, want, what) {
  const text = ((await locator.textContent()) ?? '').trim();
  const shown = Number(text);
  check(text !== '' && Number.isFinite(shown) && close(shown, want), `${what}: page shows "${text}", native ${want}`);
}

/** A distance: `{value}` must be shown as that number, `{error}` as "undefined". */
async function expectMetric(locator, want, what) {
  if ('value' in want) await expectNum(locator, want.value, what);
  else {
    const text = ((await locator.textContent()) ?? '').trim();
    check(text === 'undefined', `${what}: page shows "${text}", native: undefined (${want.error})`);
  }
}

// ---------------------------------------------------------------------------------------------
// A static server for web/dist, on 127.0.0.1 only.
// ---------------------------------------------------------------------------------------------
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
};
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
  const file = path.normalize(path.join(dist, rel));
  if (!file.startsWith(dist) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rewardkit-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const consoleErrors = [];
const requested = [];
try {
  // Offline: anything not served by our own server is refused and reported.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:')) return route.continue();
    consoleErrors.push(`network request outside the page's origin: ${url}`);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => consoleErrors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => requested.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`HTTP ${r.status()}: ${r.url()}`); });

  const t0 = Date.now();
  await page.goto(origin);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 30000 });
  console.log(`page interactive after ${Date.now() - t0} ms`);

  // -------------------------------------------------------------------------------------------
  // 1. Reward shaping
  // -------------------------------------------------------------------------------------------
  for (const c of expected.shaping) {
    const what = `shaping ${c.method} L=${c.probe}`;
    await page.selectOption('#shaping-method', c.method);
    for (const [name, value] of Object.entries(c.params)) {
      const input = page.locator(`#shaping-param-${name}`);
      if ((await input.evaluate((el) => el.tagName)) === 'SELECT') await input.selectOption(value);
      else await input.fill(value);
    }
    const box = page.locator('#shaping-correctness');
    if (!(await box.isDisabled())) await box.setChecked(c.with_correctness);
    await page.fill('#shaping-xmax', '16384');
    // Move the slider: put it one step below the probe, then press the right arrow key.
    const slider = page.locator('#shaping-length');
    await slider.evaluate((el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, String(c.probe - 1));
    await slider.press('ArrowRight');
    check(Number(await slider.inputValue()) === c.probe, `${what}: slider at ${await slider.inputValue()}`);
    check((await page.textContent('#shaping-length-value')) === String(c.probe), `${what}: length readout`);
    await expectNum(page.locator('#shaping-correct'), c.correct, `${what} correct`);
    await expectNum(page.locator('#shaping-wrong'), c.wrong, `${what} incorrect`);
    check(((await page.textContent('#shaping-error')) ?? '') === '', `${what}: error shown`);
  }
  // A parameter out of range is reported by core on the page, not in the console.
  await page.selectOption('#shaping-method', 'laser');
  await page.fill('#shaping-param-alpha', '-1');
  check(((await page.textContent('#shaping-error')) ?? '').includes('alpha'), 'shaping: α = −1 is reported');
  await page.fill('#shaping-param-alpha', '0.5');
  check(((await page.textContent('#shaping-error')) ?? '') === '', 'shaping: error cleared');

  // -------------------------------------------------------------------------------------------
  // 2. Advantages
  // -------------------------------------------------------------------------------------------
  for (const c of expected.advantages) {
    const what = `advantages ${c.preset} ${c.text ?? `random seed ${c.random.seed}`}`;
    await page.selectOption('#adv-preset', c.preset);
    await page.fill('#adv-remax', String(c.remax_baseline));
    if (c.text !== undefined) await page.fill('#adv-rewards', c.text);
    else {
      await page.fill('#adv-seed', String(c.random.seed));
      await page.fill('#adv-groups', String(c.random.groups));
      await page.fill('#adv-k', String(c.random.k));
      await page.click('#adv-random');
    }
    const head = await page.locator('#adv-table thead tr:nth-child(2) th[data-value]').allTextContents();
    check(head.length === c.rewards.length && head.every((t, i) => close(Number(t), c.rewards[i])),
      `${what}: rewards shown ${JSON.stringify(head)}, native ${JSON.stringify(c.rewards)}`);
    for (const row of c.rows) {
      const tr = page.locator(`#adv-table tr[data-estimator="${row.estimator}"]`);
      if (row.values) {
        const cells = await tr.locator('td.value span').allTextContents();
        check(cells.length === row.values.length, `${what} ${row.estimator}: ${cells.length} cells`);
        row.values.forEach((v, i) => check(cells[i] !== undefined && close(Number(cells[i]), v),
          `${what} ${row.estimator}[${i}]: page "${cells[i]}", native ${v}`));
      } else {
        const text = (await tr.locator('td.row-error').textContent()) ?? '';
        check(text === row.error, `${what} ${row.estimator}: page error "${text}", native "${row.error}"`);
      }
    }
  }
  await page.fill('#adv-rewards', '1, x');
  check(((await page.textContent('#adv-error')) ?? '').includes('cannot read reward "x"'), 'advantages: bad text is reported');
  await page.fill('#adv-rewards', '1, 0, 0, 1, 1 | 0, 0.5, 1');
  check(((await page.textContent('#adv-error')) ?? '') === '', 'advantages: error cleared');

  // -------------------------------------------------------------------------------------------
  // 3. Reward distances
  // -------------------------------------------------------------------------------------------
  const world = expected.distances.world;
  for (const [id, v] of [['world-width', world.width], ['world-height', world.height], ['world-slip', world.slip], ['world-gamma', world.gamma]]) {
    await page.fill(`#${id}`, String(v));
    await page.press(`#${id}`, 'Tab');
  }
  await page.click('#dist-reset-a');
  await page.click('#dist-reset-b');
  for (const step of expected.distances.steps) {
    const what = `distances after ${step.action}`;
    if (step.action === 'edit') {
      const cell = page.locator(`#grid-b .cell[data-state="${step.state}"] input`);
      await cell.fill(String(step.value));
      await cell.press('Tab');
    } else if (step.action === 'scale') {
      await page.fill('#dist-alpha', String(step.alpha));
      await page.click('#dist-scale');
    } else if (step.action !== 'initial') {
      await page.fill('#dist-seed', String(step.seed));
      await page.fill('#dist-mag', String(step.magnitude));
      await page.click(`#dist-${step.action}`);
    }
    check(((await page.textContent('#dist-error')) ?? '') === '', `${what}: error shown`);
    const e = step.expect;
    await expectMetric(page.locator('#dist-starc'), e.starc, `${what} STARC`);
    await expectMetric(page.locator('#dist-starc-minimal'), e.starc_minimal, `${what} STARC minimal`);
    await expectMetric(page.locator('#dist-epic'), e.epic, `${what} EPIC`);
    await expectMetric(page.locator('#dist-dard'), e.dard, `${what} DARD`);
    for (const [grid, want] of [['grid-a', e.policy_a], ['grid-b', e.policy_b]]) {
      const shown = await page.locator(`#${grid} .cell`).evaluateAll((cells) => cells.map((c) => [Number(c.dataset.action), c.querySelector('.arrow').textContent]));
      const arrows = ['↑', '→', '↓', '←'];
      check(shown.length === want.length && shown.every(([a, t], i) => a === want[i] && t === arrows[want[i]]),
        `${what} ${grid} policy: page ${JSON.stringify(shown.map(([a]) => a))}, native ${JSON.stringify(want)}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // 4. Reward doctor
  // -------------------------------------------------------------------------------------------
  for (const c of expected.doctor) {
    const what = `doctor ${c.reference} vs ${c.proposed ?? 'pasted'}`;
    await page.selectOption('#doc-ref-pick', c.reference);
    if (c.proposed !== undefined) await page.selectOption('#doc-prop-pick', c.proposed);
    else {
      await page.fill('#doc-prop-text', c.proposed_text);
      check((await page.inputValue('#doc-prop-pick')) === 'custom', `${what}: pick switches to custom`);
    }
    check(((await page.textContent('#doc-error')) ?? '') === '', `${what}: error shown`);
    const verdict = page.locator('#doc-verdict');
    const relation = await verdict.getAttribute('data-relation');
    check(relation === c.relation, `${what}: relation ${relation}, built as ${c.relation}`);
    if (c.alpha !== null) {
      const alpha = Number(await verdict.getAttribute('data-alpha'));
      check(close(alpha, c.alpha), `${what}: α ${alpha}, built as ${c.alpha}`);
      check(((await verdict.textContent()) ?? '').includes(String(c.alpha)), `${what}: α in the verdict`);
    }
    const e = c.expect;
    await expectMetric(page.locator('#doc-starc'), e.distances.starc, `${what} STARC`);
    await expectMetric(page.locator('#doc-starc-minimal'), e.distances.starc_minimal, `${what} STARC minimal`);
    await expectMetric(page.locator('#doc-epic'), e.distances.epic, `${what} EPIC`);
    await expectMetric(page.locator('#doc-dard'), e.distances.dard, `${what} DARD`);
    await expectNum(page.locator('#doc-regret'), e.regret, `${what} regret`);
    await expectNum(page.locator('#doc-nregret'), e.normalized_regret, `${what} normalized regret`);
    await expectNum(page.locator('#doc-rev-regret'), e.reverse_regret, `${what} reverse regret`);
    await expectNum(page.locator('#doc-rev-nregret'), e.reverse_normalized_regret, `${what} reverse normalized regret`);
    const items = await page.locator('#doc-disagree li[data-state]').evaluateAll((lis) => lis.map((li) => [Number(li.dataset.state), li.querySelector('output').textContent]));
    check(items.length === e.disagreements.length, `${what}: ${items.length} disagreeing states, native ${e.disagreements.length}`);
    e.disagreements.forEach((d, i) => check(items[i] && items[i][0] === d.state && close(Number(items[i][1]), d.value_lost),
      `${what}: disagreement ${i} page ${JSON.stringify(items[i])}, native ${JSON.stringify(d)}`));
    check((await page.locator('#doc-grid .cell.disagree').count()) === e.disagreements.length, `${what}: highlighted cells`);
  }
  await page.fill('#doc-prop-text', '1 2 3');
  check(((await page.textContent('#doc-error')) ?? '').includes('S·A'), 'doctor: a reward of the wrong size is reported');

  // -------------------------------------------------------------------------------------------
  // 5. Live training: the trainer's module loads only on start; the warm-up losses (no sampling)
  // must match the native trainer's to a relative 1e-4; GRPO steps sample, so they are checked
  // for structure, and compared with native only to report whether the trajectories agree.
  // -------------------------------------------------------------------------------------------
  {
    const tr = expected.training;
    check(!requested.some((u) => u.includes('/pkg-train/')), 'training: its module is not loaded before the panel starts');
    // The preset's warm-up speed, as a user starts it: the default warm-up, run ~3 s, pause.
    const log = page.locator('#train-log li');
    const report = async (i) => JSON.parse(await log.nth(i).getAttribute('data-report'));
    const w0 = Date.now();
    await page.click('#train-start');
    await page.waitForFunction(() => document.querySelectorAll('#train-log li').length >= 1, null, { timeout: 60000 });
    const w1 = Date.now();
    await page.waitForTimeout(3000);
    await page.click('#train-pause');
    await page.waitForFunction(() => document.getElementById('train-state').dataset.running === 'false', null, { timeout: 60000 });
    const wn = await log.count();
    const wr = await report(wn - 1);
    check(wr.phase === 'warmup' && wn >= 2, `training: the preset starts with warm-up steps (${wn})`);
    check(requested.some((u) => u.includes('/pkg-train/rewardkit_web_bg.wasm')), 'training: its module was loaded on start');
    console.log(`training (warm-up, preset: batch 32): first step after ${w1 - w0} ms (module load included); ${wn} steps in ${((Date.now() - w0) / 1000).toFixed(2)} s wall; last step ${wr.seconds.toFixed(3)} s, ${Math.round(wr.tokens_per_s)} tokens/s`);
    // The scenario of the expected values: reset with its seed, shaping and warm-up length.
    await page.selectOption('#train-shaping', tr.shaping);
    await page.fill('#train-seed', String(tr.seed));
    await page.fill('#train-warmup', String(tr.warmup));
    await page.click('#train-reset');
    await page.waitForFunction(() => document.getElementById('train-log').children.length === 0
      && document.getElementById('train-state').dataset.running === 'false', null, { timeout: 60000 });
    const stepOnce = async (n) => {
      await page.click('#train-step-once');
      await page.waitForFunction((k) => document.querySelectorAll('#train-log li').length >= k
        && document.getElementById('train-state').dataset.running === 'false', n, { timeout: 120000 });
    };
    const relClose = (a, b, tol) => Math.abs(a - b) <= tol * Math.abs(b);
    for (let i = 0; i < tr.warmup; i++) {
      await stepOnce(i + 1);
      const r = await report(i);
      const want = tr.warmup_losses[i];
      check(r.phase === 'warmup' && r.step === i + 1, `training: report ${i} is warm-up step ${i + 1}: ${JSON.stringify(r)}`);
      check(relClose(r.loss, want, 1e-4), `training warm-up step ${i + 1}: wasm loss ${r.loss}, native ${want} (rel. ${Math.abs(r.loss - want) / want})`);
      await expectNum(page.locator('#train-loss'), r.loss, `training warm-up step ${i + 1}: loss shown`);
      if (i === 0) console.log(`training: warm-up step 1 loss wasm ${r.loss} native ${want}`);
    }
    check(!(await page.isDisabled('#train-start')) && (await page.isDisabled('#train-pause')), 'training: start enabled, pause disabled while paused');
    const grpo = [];
    for (let i = 0; i < tr.grpo.length; i++) {
      await stepOnce(tr.warmup + i + 1);
      const r = await report(tr.warmup + i);
      grpo.push(r);
      const what = `training GRPO step ${i + 1}`;
      check(r.phase === 'grpo' && r.step === i + 1, `${what}: ${JSON.stringify(r)}`);
      for (const k of ['loss', 'reward', 'accuracy', 'format', 'length', 'kl', 'seconds', 'tokens_per_s']) {
        check(typeof r[k] === 'number' && Number.isFinite(r[k]), `${what}: ${k} = ${r[k]} is a finite number`);
      }
      check(r.accuracy >= 0 && r.accuracy <= 1 && r.format >= 0 && r.format <= 1, `${what}: accuracy ${r.accuracy}, format ${r.format} in [0, 1]`);
      check(r.length >= 1 && r.length <= tr.max_new, `${what}: mean length ${r.length} in [1, ${tr.max_new}]`);
      check(r.kl >= 0, `${what}: KL ${r.kl} >= 0 (low_var_kl)`);
      await expectNum(page.locator('#train-reward'), r.reward, `${what}: reward shown`);
      await expectNum(page.locator('#train-accuracy'), r.accuracy, `${what}: accuracy shown`);
      await expectNum(page.locator('#train-length'), r.length, `${what}: mean length shown`);
      await expectNum(page.locator('#train-kl'), r.kl, `${what}: KL shown`);
    }
    // Informational (sampling may diverge on another machine): do the sampled completions agree
    // (their discrete metrics exactly), and how close are the continuous ones?
    const discrete = ['reward', 'accuracy', 'format', 'length'];
    const sameSamples = grpo.every((r, i) => discrete.every((k) => r[k] === tr.grpo[i][k]));
    const relDiff = (a, b) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
    const worst = Math.max(...grpo.flatMap((r, i) => ['loss', 'kl'].map((k) => relDiff(r[k], tr.grpo[i][k]))));
    console.log(`training: GRPO steps 1-${grpo.length}: sampled trajectories ${sameSamples ? 'identical to native (reward, accuracy, format, mean length equal)' : 'differ from native'}; loss and KL within a relative ${worst.toExponential(2)} of native`);
    grpo.forEach((r, i) => console.log(`  step ${i + 1} [reward, accuracy, format, length, loss, kl] wasm ${JSON.stringify([...discrete, 'loss', 'kl'].map((k) => r[k]))} native ${JSON.stringify([...discrete, 'loss', 'kl'].map((k) => tr.grpo[i][k]))}`));
    const samples = await page.locator('#train-samples li').allTextContents();
    check(samples.length === 4 && samples.every((t) => /^\d{3}\+\d{3}= → /.test(t)), `training: 4 sampled completions shown: ${JSON.stringify(samples)}`);
    // start, let it run, pause: the step count stops growing.
    const before = await log.count();
    const tStart = Date.now();
    await page.click('#train-start');
    await page.waitForFunction((k) => document.querySelectorAll('#train-log li').length >= k, before + 3, { timeout: 120000 });
    const ran = (await log.count()) - before;
    const wall = (Date.now() - tStart) / 1000;
    await page.click('#train-pause');
    await page.waitForFunction(() => document.getElementById('train-state').dataset.running === 'false', null, { timeout: 120000 });
    const paused = await log.count();
    await page.waitForTimeout(1000);
    check((await log.count()) === paused, 'training: no step after pause');
    const last = await report(paused - 1);
    console.log(`training (GRPO, ${tr.grpo.length + 1}+ steps in, wasm, one thread): ${ran} steps in ${wall.toFixed(2)} s wall = ${(ran / wall).toFixed(2)} steps/s; last step ${last.seconds.toFixed(3)} s, ${Math.round(last.tokens_per_s)} tokens/s`);
  }

  // The picture for the README: a state worth looking at in every panel, and a run of the
  // training preset (warm-up to 30 % accuracy, then GRPO with HAPO) until GRPO step 12.
  // REWARDKIT_WEB_QUICK=1 skips this run (about a minute).
  if (process.env.REWARDKIT_WEB_QUICK !== '1') {
    await page.fill('#train-warmup', '600');
    await page.click('#train-reset');
    await page.waitForFunction(() => document.getElementById('train-log').children.length === 0, null, { timeout: 60000 });
    const t0 = Date.now();
    await page.click('#train-start');
    await page.waitForFunction(() => document.querySelectorAll('#train-log li[data-phase="grpo"]').length >= 12, null, { timeout: 300000 });
    await page.click('#train-pause');
    await page.waitForFunction(() => document.getElementById('train-state').dataset.running === 'false', null, { timeout: 60000 });
    const all = await page.locator('#train-log li').evaluateAll((lis) => lis.map((li) => JSON.parse(li.dataset.report)));
    const w = all.filter((r) => r.phase === 'warmup');
    const g = all.filter((r) => r.phase === 'grpo');
    const mon = w.filter((r) => r.monitor_accuracy !== null);
    const lastMon = mon.length ? mon[mon.length - 1].monitor_accuracy : null;
    check(w.length === 600 || (lastMon !== null && lastMon >= 0.3 && w.length % 10 === 0),
      `training: the warm-up ends at 600 steps or when the monitor reaches 30 % (${w.length} steps, last monitor ${lastMon})`);
    check(mon.every((r) => r.step % 10 === 0 && r.monitor_accuracy >= 0 && r.monitor_accuracy <= 1), 'training: the monitor runs every 10 steps, accuracy in [0, 1]');
    check(g.every((r) => Number.isFinite(r.reward) && r.accuracy >= 0 && r.accuracy <= 1), 'training: preset run GRPO steps well-formed');
    const tw = w.reduce((a, r) => a + r.seconds, 0);
    const tg = g.reduce((a, r) => a + r.seconds, 0);
    console.log(`training preset run: ${w.length} warm-up steps (loss ${w[0].loss.toFixed(3)} → ${w[w.length - 1].loss.toFixed(3)}, monitor ${lastMon}; ${tw.toFixed(1)} s in steps, ${(w.length / tw).toFixed(2)} steps/s) + ${g.length} GRPO steps (${tg.toFixed(1)} s, ${(g.length / tg).toFixed(2)} steps/s, ${Math.round(g.reduce((a, r) => a + r.tokens_per_s * r.seconds, 0) / tg)} tokens/s) in ${((Date.now() - t0) / 1000).toFixed(1)} s wall`);
    console.log(`  GRPO accuracy ${g.map((r) => r.accuracy.toFixed(2)).join(' ')}`);
    console.log(`  GRPO mean length ${g.map((r) => r.length.toFixed(1)).join(' ')}`);
  }
  // The picture for the README: a state worth looking at in every panel.
  await page.selectOption('#doc-prop-pick', 'near-goal');
  await page.selectOption('#shaping-method', 'hapo');
  fs.mkdirSync(path.dirname(screenshotPath), { recursive: true });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  console.log(`screenshot: ${screenshotPath}`);
} catch (e) {
  failures.push(`test aborted: ${e.stack ?? e}`);
} finally {
  await context.close();
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

for (const e of consoleErrors) failures.push(e);
for (const f of failures) console.log(`FAIL ${f}`);
console.log(`browser: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
