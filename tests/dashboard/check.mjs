// Drives coord's dashboard in headless Chromium (puppeteer-core, Debian's
// chromium binary). Started by tests/dashboard/run.sh, which runs the server
// and the `coord lock` processes; this script only reads the page and the
// API, and writes the release file when told to by its own step order.
//
// Steps (each bounded by STEP_MS):
//   1. the API shows the holder and two waiters at /locks/demo (their node
//      names are what the page must show);
//   2. the page, opened at /#locks, shows the holder's row and the waiters'
//      rows, in line order, and a break button (the server runs --http-admin);
//   3. the release file is written (the holder's command exits, coord
//      releases); the page, refreshing on its own, shows the first waiter as
//      holder and the second still waiting;
//   4. screenshots: target/dashboard/dashboard-waiting.png (step 2) and
//      target/dashboard/dashboard.png (step 3);
//   5. the tree, sessions, elections, cluster and charts tabs render, a node
//      whose name and data are markup is shown as text (nothing runs), and
//      no JavaScript error was raised on the page.
// Exits 1 naming the failed step.
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`dashboard: ${k} is not set (run tests/dashboard/run.sh)`); process.exit(2); }
  return v;
};
const URL_BASE = env("DASH_URL");
const RELEASE = env("DASH_RELEASE_FILE");
const OUT = env("DASH_OUT");
const CHROMIUM = env("DASH_CHROMIUM");
const STEP_MS = Number(process.env.DASH_STEP_MS || 20000);
const LOCK = "/locks/demo";

let step = "start";
const log = (m) => console.error(`dashboard: ${m}`);

async function lockLine() {
  const r = await fetch(`${URL_BASE}/api/locks?path=${encodeURIComponent(LOCK)}`);
  if (!r.ok) throw new Error(`/api/locks answered ${r.status}`);
  const body = await r.json();
  return body.locks[0] || { holders: [], waiters: [] };
}

async function until(what, fn) {
  const deadline = Date.now() + STEP_MS;
  let last;
  while (Date.now() < deadline) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${STEP_MS} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

// Node names of the rows the page shows for `role` under the lock, in order.
const rows = (page, role) => page.$$eval(
  `.lock[data-path="${LOCK}"] tr[data-role="${role}"]`, (trs) => trs.map((t) => t.dataset.node));
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

let browser;
try {
  step = "api shows a holder and two waiters";
  const line = await until(step, async () => {
    const l = await lockLine();
    return l.holders.length === 1 && l.waiters.length === 2 ? l : null;
  });
  const holder = line.holders[0].node;
  const [first, second] = line.waiters.map((w) => w.node);
  log(`holder ${holder} (token ${line.holders[0].token}), waiters ${first}, ${second}`);

  step = "launch chromium";
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: STEP_MS,
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));

  step = "page loads";
  await page.goto(`${URL_BASE}/#locks`, { waitUntil: "load", timeout: STEP_MS });
  await page.waitForSelector("#locks.on", { timeout: STEP_MS });

  step = "page shows the holder and the waiters in line order";
  await page.waitForFunction(() => document.querySelector(".lock") !== null, { timeout: STEP_MS });
  await until(step, async () => same(await rows(page, "holder"), [holder]) &&
    same(await rows(page, "waiter"), [first, second]));
  const text = await page.$eval(`.lock[data-path="${LOCK}"]`, (e) => e.innerText);
  if (!text.includes(line.holders[0].session)) throw new Error(`the holder's session ${line.holders[0].session} is not shown: ${text}`);
  if (!text.includes("waiting")) throw new Error(`no waiter shown: ${text}`);
  if (!(await page.$(`button[data-break="${LOCK}"]`))) throw new Error("no break button with --http-admin on");
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, "dashboard-waiting.png") });

  step = "page shows the former waiter as holder after the release";
  fs.writeFileSync(RELEASE, "release\n");
  await until(step, async () => same(await rows(page, "holder"), [first]) &&
    same(await rows(page, "waiter"), [second]));
  const after = await lockLine();
  if (after.holders[0].token <= line.holders[0].token) throw new Error(`token did not grow: ${JSON.stringify(after)}`);

  step = "screenshot";
  await page.screenshot({ path: path.join(OUT, "dashboard.png") });

  // Every other tab renders what the server has.
  for (const [tab, selector] of [
    ["tree", '#tree-children a[data-name="locks"]'],
    ["sessions", "#sessions-body tr[data-session]"],
    ["elections", `#elections-body .lock[data-path="${LOCK}"]`],
    ["cluster", '#cluster-body tr[data-member="1"]'],
    ["charts", "#ops-chart polyline"],
  ]) {
    step = `tab ${tab} shows ${selector}`;
    await page.click(`#tabs button[data-tab="${tab}"]`);
    await page.waitForSelector(selector, { timeout: STEP_MS });
  }
  step = "node names and data are shown as text, never run";
  const evil = "<img src=x onerror=window.__xss=1>";
  await page.click('#tabs button[data-tab="tree"]');
  await page.evaluate(() => { document.getElementById("tree-path").value = "/xss"; document.getElementById("tree-go").click(); });
  await page.waitForFunction((n) => [...document.querySelectorAll("#tree-children a")].some((a) => a.textContent === n),
    { timeout: STEP_MS }, evil);
  await page.evaluate((n) => [...document.querySelectorAll("#tree-children a")].find((a) => a.textContent === n).click(), evil);
  await page.waitForFunction(() => (document.getElementById("tree-data") || {}).textContent === "<script>window.__xss=2</script>",
    { timeout: STEP_MS });
  const injected = await page.evaluate(() => ({ flag: window.__xss, imgs: document.querySelectorAll("main img, main script").length }));
  if (injected.flag !== undefined || injected.imgs !== 0) throw new Error(`user input ran or became markup: ${JSON.stringify(injected)}`);

  step = "sessions tab lists the three contenders' sessions";
  const sessions = await page.$$eval("#sessions-body tr[data-session]", (trs) => trs.map((t) => t.dataset.session));
  for (const c of [...after.holders, ...after.waiters]) {
    if (!sessions.includes(c.session)) throw new Error(`session ${c.session} not listed: ${sessions}`);
  }
  if (pageErrors.length) throw new Error(`JavaScript errors on the page: ${pageErrors.join("; ")}`);
  log(`ok: holder ${holder} released, ${first} holds (token ${after.holders[0].token}); screenshots in ${OUT}`);
} catch (e) {
  log(`FAILED at step '${step}': ${e.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}
