// The dnsplane dashboard: plain JavaScript, no build step, no network beyond this API.
// A compact status arrives over server-sent events (/api/events); the names page, the
// plan timeline and name details are fetched when that status says they changed. Only
// one page of names (at most 100 rows) is ever in the DOM, so 100,000 names render as
// fast as 10. Every value from the server reaches the page through textContent, never
// as HTML.
'use strict';

const pageSize = 50;
const timelinePlans = 40;
/** Shortest gap between two reloads of the names page while the zone changes. */
const namesReloadGapMs = 250;
const tokenKey = 'dnsplane.apiToken';
/** Shortest gap between two reloads of the dependency graph while the zone changes. */
// Redraws the event stream asks for are at least this far apart, and further on a large inventory: each one
// makes the API work out what the targets down now lose over the whole graph, which at 100,000 names holds its
// event loop for a few hundred milliseconds (status requests wait behind it). An operator's own request is not held.
const graphReloadGapMs = 500;
const graphReloadGapPerNameMs = 0.2;
/** Entries of each list of an impact report shown (the report's totals count them all). */
const impactListShown = 50;

const view = {
  status: null,
  serverSkewMs: 0,
  offset: 0,
  q: '',
  page: null,
  expanded: new Set(),
  seen: { generation: -1, servedVersion: -1, controls: '', alarms: -1 },
  namesLoading: false,
  namesAgain: false,
  lastNamesLoadMs: 0,
};

// The dependency graph panel: the SVG shown (replaced only when the server draws something else), and the subject
// of "impact of X" ('' for the current health).
const graph = {
  subject: '',
  focus: false,
  svgText: '',
  seen: '',
  loading: false,
  again: false,
  lastLoadMs: 0,
  reportFor: '',
  namesTotal: 0,
  /** Set once the first page of names is shown: the graph is drawn after it. */
  ready: false,
  /** The next drawing was asked for by the operator (a subject, a click): not held by the reload gap. */
  asked: false,
};

const $ = (id) => document.getElementById(id);

/** Builds an element; strings become text nodes (never parsed as HTML). */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'className') node.className = value;
    // Through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
    else if (key === 'style') Object.assign(node.style, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message ?? `${response.status}`);
  return body;
}

function formatAge(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

function serverNow() {
  return Date.now() + view.serverSkewMs;
}

// ---- live status -------------------------------------------------------------

function connectEvents() {
  const source = new EventSource('/api/events');
  source.addEventListener('status', (event) => onStatus(JSON.parse(event.data)));
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('error', () => setLive(false));
}

function setLive(live) {
  const badge = $('live');
  badge.textContent = live ? 'live' : 'reconnecting…';
  badge.classList.toggle('off', !live);
}

function onStatus(status) {
  view.status = status;
  view.serverSkewMs = status.nowMs - Date.now();
  setLive(true);
  renderSummary(status);
  renderEnactors();
  renderCheckers();
  void renderInventory(status.inventoryVersion);
  renderAlarms(status.alarms);
  const controls = `${status.drains.join(',')}|${status.freezes.join(',')}`;
  const generationMoved = status.generation.latest !== view.seen.generation;
  if (generationMoved) loadTimeline();
  if (
    generationMoved
    || status.servedVersion !== view.seen.servedVersion
    || controls !== view.seen.controls
    || status.alarms.total !== view.seen.alarms
  ) {
    loadNames();
  }
  view.seen = {
    generation: status.generation.latest,
    servedVersion: status.servedVersion,
    controls,
    alarms: status.alarms.total,
  };
  // The graph shows health, alarms, drains and what DNS serves: redraw it when one of them may have moved.
  const checkers = (status.health?.checkers ?? [])
    .map((checker) => `${checker.id}:${checker.downTotal}:${checker.down}`);
  const alarms = status.alarms.items.map((alarm) => `${alarm.kind}:${alarm.name}`);
  const graphKey = [status.generation.latest, status.servedVersion, status.inventoryVersion, controls,
    checkers.join(';'), alarms.join(','), status.alarms.total].join('|');
  graph.namesTotal = status.names.total;
  if (graph.ready && graphKey !== graph.seen) {
    graph.seen = graphKey;
    loadGraph();
  }
  if (graph.subject !== '' && graph.reportFor !== `${status.inventoryVersion}|${graph.subject}`) loadImpact();
}

function renderSummary(status) {
  $('zone').textContent = status.zones.map((zone) => zone.zone).join(' · ');
  renderZones(status);
  $('gen-latest').textContent = status.generation.latest;
  $('gen-oldest').textContent = status.generation.oldest;
  const { total, converged } = status.names;
  const converge = $('converged');
  converge.textContent = `${converged.toLocaleString()} / ${total.toLocaleString()} names on the newest plan`;
  converge.classList.toggle('behind', converged < total);
  const zoneFrozen = status.freezes.includes('*');
  $('frozen-banner').hidden = !zoneFrozen;
  $('zone-freeze').textContent = zoneFrozen ? 'Unfreeze zone' : 'Freeze zone';
  for (const id of ['zone-freeze', 'force-plan']) $(id).disabled = !status.mutations;
}

// Each zone (config zones: gives several): its provider, how many of its names serve the newest plan, and whether
// its provider could be read.
function renderZones(status) {
  $('zones').replaceChildren(...status.zones.map((zone) => el('div', {
    className: 'card', 'data-zone': zone.zone, 'data-reachable': String(zone.reachable),
  },
  el('div', { className: 'id' }, el('span', { className: `dot${zone.reachable ? '' : ' dead'}` }), `${zone.zone}.`),
  el('div', {}, el('b', {}, `${zone.names.converged.toLocaleString()} / ${zone.names.total.toLocaleString()}`),
    ' names on the newest plan'),
  el('div', { className: 'muted small' }, zone.provider,
    zone.reachable ? '' : ` · unreachable: ${zone.error ?? 'its provider failed'}`))));
}

function renderEnactors() {
  const status = view.status;
  if (status === null) return;
  const box = $('enactors');
  if (status.enactors.length === 0) {
    return box.replaceChildren(el('p', { className: 'muted' }, 'no enactor has reported yet'));
  }
  box.replaceChildren(...status.enactors.map((enactor) => {
    const lag = Math.max(0, status.generation.latest - enactor.enactedGeneration);
    return el('div', { className: 'card', 'data-enactor': enactor.id },
      el('div', { className: 'id' },
        el('span', { className: `dot${enactor.alive ? '' : ' dead'}` }), enactor.id, enactor.alive ? '' : ' (dead)'),
      el('div', {}, 'enacted ', el('b', {}, enactor.enactedGeneration), ' · held ', enactor.heldGeneration),
      el('div', { className: 'muted small' },
        `lag ${lag} · heartbeat `,
        el('span', { className: 'age' }, formatAge(serverNow() - enactor.heartbeatAtMs)),
        ' ago'));
  }));
}

// The inventory version the installation follows, and what its newest version changed (fetched once per version).
let inventoryShown = -1;
async function renderInventory(version) {
  if (version === undefined || version === inventoryShown) return;
  inventoryShown = version;
  const inventory = await (await fetch('/api/inventory?limit=1')).json();
  const box = $('inventory');
  if (inventory.info === null) return box.replaceChildren(el('p', { className: 'muted' }, 'no inventory stored yet'));
  const change = inventory.lastChange;
  const items = change.names.map((entry) => el('li', { 'data-inventory-change': entry.name },
    el('b', {}, entry.kind === 'added' ? '+ ' : entry.kind === 'removed' ? '− ' : '~ '), entry.name));
  box.replaceChildren(
    el('div', { id: 'inventory-version', 'data-version': String(inventory.version) },
      'version ', el('b', {}, inventory.version), ` · ${inventory.total} names · by ${inventory.info.actor}`),
    el('div', { className: 'muted small' },
      `${inventory.info.summary} — ${inventory.info.reason}${inventory.info.forced ? ' (forced)' : ''}`),
    el('ul', { className: 'small' }, ...items));
}

// Each health checker's view; a target is down when a strict majority of the voting checkers see it down.
function renderCheckers() {
  const status = view.status;
  if (status === null || status.health === undefined) return;
  const { checkers, voters, disagreements, disagreementsTotal } = status.health;
  const box = $('checkers');
  if (checkers.length === 0) return box.replaceChildren(el('p', { className: 'muted' }, 'no checker has reported yet'));
  const cards = checkers.map((checker) => {
    const state = !checker.alive ? ' (dead)' : checker.suspect ? ' (suspects itself: not counted)' : '';
    return el(
      'div',
      { className: 'card', 'data-checker': checker.id, 'data-voting': String(voters.includes(checker.id)) },
      el('div', { className: 'id' },
        el('span', { className: `dot${checker.alive && !checker.suspect ? '' : ' dead'}` }), checker.id, state),
      el('div', {}, 'sees ', el('b', {}, checker.downTotal), ` of ${checker.probed} down`),
      el('div', { className: 'muted small' }, checker.down.length > 0 ? checker.down.join(', ') : 'all up'),
    );
  });
  const disagreeing = disagreements.map((d) => el('li', { 'data-disagreement': d.target },
    el('b', {}, d.target), ` down for ${d.down.join(', ')}; up for ${d.up.join(', ')}`));
  const summary = el('p', { className: 'muted small', id: 'checker-disagreements' },
    disagreementsTotal === 0
      ? `${voters.length} voting; they agree`
      : `${voters.length} voting; they disagree on ${disagreementsTotal} `
        + `target${disagreementsTotal === 1 ? '' : 's'}:`);
  box.replaceChildren(...cards, summary, el('ul', {}, ...disagreeing));
}

function renderAlarms(alarms) {
  const banner = $('alarm-banner');
  banner.hidden = alarms.total === 0;
  if (alarms.total === 0) return;
  $('alarm-count').textContent = `${alarms.total} active alarm${alarms.total === 1 ? '' : 's'}`;
  $('alarm-list').replaceChildren(...alarms.items.map((alarm) =>
    el('li', { 'data-alarm': `${alarm.kind}:${alarm.name}` },
      el('b', {}, `[${alarm.kind}] `), alarm.name, ` — ${alarm.message}`,
      alarm.count > 1 ? ` (×${alarm.count})` : '',
      alarm.blastRadius ? el('span', { className: 'blast-radius' }, ` — ${alarm.blastRadius}`) : '')));
}

// ---- plan timeline ---------------------------------------------------------------

async function loadTimeline() {
  try {
    const { plans } = await getJson(`/api/plans?limit=${timelinePlans}`);
    const enacted = new Set((view.status?.enactors ?? []).map((e) => e.enactedGeneration));
    const most = Math.max(1, ...plans.map((plan) => plan.namesChanged));
    $('timeline').replaceChildren(...plans.reverse().map((plan) => {
      const height = 8 + Math.round(60 * Math.log1p(plan.namesChanged) / Math.log1p(most));
      const title = `generation ${plan.generation} · ${new Date(plan.createdAtMs).toLocaleTimeString()} · `
        + `${plan.namesChanged}/${plan.namesTotal} names changed · planner ${plan.plannerId}`
        + `${plan.forced ? ' · FORCED' : ''}${plan.note ? ` · ${plan.note}` : ''}`;
      return el('div', {
        className: `bar${plan.forced ? ' forced' : ''}${enacted.has(plan.generation) ? ' enacted' : ''}`,
        style: { height: `${height}px` },
        title,
        'data-generation': plan.generation,
        onmouseenter: () => { $('timeline-detail').textContent = title; },
      });
    }));
    if (plans.length > 0) {
      $('timeline-detail').textContent = `newest: ${plans.at(-1).generation} `
        + `(${plans.at(-1).namesChanged} names changed); green mark: an enactor's enacted generation`;
    }
  } catch (error) {
    $('timeline-detail').textContent = `timeline unavailable: ${error.message}`;
  }
}

// ---- names and health matrix -------------------------------------------------------

async function loadNames() {
  if (view.namesLoading) {
    view.namesAgain = true;
    return;
  }
  view.namesLoading = true;
  try {
    const waitMs = view.lastNamesLoadMs + namesReloadGapMs - Date.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    view.lastNamesLoadMs = Date.now();
    const query = new URLSearchParams({ offset: String(view.offset), limit: String(pageSize), q: view.q });
    view.page = await getJson(`/api/names?${query}`);
    renderNames();
    renderHealth();
  } catch (error) {
    showToast(`names unavailable: ${error.message}`);
  } finally {
    view.namesLoading = false;
    if (view.namesAgain) {
      view.namesAgain = false;
      loadNames();
    }
  }
}

function answers(records) {
  if (records.length === 0) return el('span', { className: 'badge empty' }, 'no records');
  return records.map((record) => el('div', { className: record.weight === 0 ? 'zero' : '' },
    `${record.address} · ${record.weight} · ${record.target}`));
}

function renderNames() {
  const page = view.page;
  const first = page.total === 0 ? 0 : page.offset + 1;
  $('names-range').textContent = `${first.toLocaleString()}–${(page.offset + page.items.length).toLocaleString()} `
    + `of ${page.total.toLocaleString()}`;
  $('prev-page').disabled = page.offset === 0;
  $('next-page').disabled = page.offset + page.items.length >= page.total;
  const rows = [];
  for (const item of page.items) {
    rows.push(el('tr', { 'data-name': item.name, 'data-status': item.status },
      el('td', { className: 'name' }, el('a', {
        href: '#',
        onclick: (event) => { event.preventDefault(); toggleHistory(item.name); },
      }, item.name)),
      el('td', {},
        el('span', { className: `badge ${item.status}` }, item.status),
        item.frozen ? el('span', { className: 'badge frozen' }, 'frozen') : null),
      el('td', { className: 'answers' },
        item.served === null ? el('span', { className: 'muted' }, 'not served') : answers(item.served.records)),
      el('td', { className: 'num' }, item.served?.generation ?? '–'),
      el('td', { className: 'num' }, item.plan?.since ?? '–'),
      el('td', {},
        el('button', {
          type: 'button',
          'data-action': item.frozen ? 'unfreeze' : 'freeze',
          'data-name': item.name,
          onclick: () => nameAction(item, item.frozen ? 'unfreeze' : 'freeze'),
        }, item.frozen ? 'Unfreeze' : 'Freeze'),
        ' ',
        el('button', {
          type: 'button',
          'data-action': 'reenact',
          'data-name': item.name,
          onclick: () => nameAction(item, 'reenact'),
        }, 'Re-enact'))));
    if (view.expanded.has(item.name)) {
      rows.push(el('tr', { className: 'history', 'data-history': item.name },
        el('td', { colspan: 6 }, 'loading history…')));
    }
  }
  $('names').tBodies[0].replaceChildren(...rows);
  for (const name of view.expanded) if (page.items.some((item) => item.name === name)) loadHistory(name);
}

function toggleHistory(name) {
  if (view.expanded.has(name)) view.expanded.delete(name);
  else view.expanded.add(name);
  renderNames();
}

async function loadHistory(name) {
  try {
    const detail = await getJson(`/api/names/${encodeURIComponent(name)}`);
    const row = document.querySelector(`tr[data-history="${CSS.escape(name)}"] td`);
    if (!row) return;
    const entries = detail.history.slice(-12).reverse();
    row.replaceChildren(entries.length === 0 ? 'no history yet' : el('div', {}, ...entries.map((entry) =>
      el('div', {}, `${new Date(entry.atMs).toLocaleTimeString()} `, el('b', {}, entry.kind),
        ` ${entry.fromGeneration} → ${entry.toGeneration} by ${entry.actor}`
          + `${entry.detail ? ` (${entry.detail})` : ''}`))));
  } catch (error) {
    showToast(`history unavailable: ${error.message}`);
  }
}

function renderHealth() {
  const page = view.page;
  const zones = [...new Set(page.items.flatMap((item) => item.targets.map((target) => target.az)))].sort();
  $('health').tHead.replaceChildren(el('tr', {}, el('th', {}, 'name'), ...zones.map((zone) => el('th', {}, zone))));
  $('health').tBodies[0].replaceChildren(...page.items.map((item) => el('tr', { 'data-name': item.name },
    el('td', { className: 'name' }, item.name),
    ...zones.map((zone) => el('td', {},
      ...item.targets.filter((target) => target.az === zone).map((target) => targetChip(target)))))));
  const counts = { up: 0, down: 0, unknown: 0, drained: 0 };
  for (const item of page.items) for (const target of item.targets) {
    counts[target.health] += 1;
    if (target.drained) counts.drained += 1;
  }
  $('health-summary').textContent = `on this page: ${counts.up} up, ${counts.down} down, ${counts.unknown} unknown, `
    + `${counts.drained} drained`;
}

function targetChip(target) {
  const action = target.drained ? 'undrain' : 'drain';
  return el('span', {
    className: `chip ${target.health}${target.drained ? ' drained' : ''}`,
    'data-target': target.id,
    title: `${target.id} ${target.address} (${target.az}, capacity ${target.capacity}): `
      + `${target.health}${target.drained ? ', drained' : ''}`,
  },
    target.id,
    el('button', {
      type: 'button',
      'data-action': action,
      'data-target': target.id,
      onclick: () => targetAction(target, action),
    }, action));
}

// ---- dependency graph ------------------------------------------------------------------
// The server draws the graph (/api/graph.svg: fixed columns, state as classes, every label escaped); the page only
// swaps the drawing when it changed, and asks for an impact report when an operator names a subject.

function graphUrl(asked) {
  const query = new URLSearchParams();
  if (asked.subject !== '') query.set('impact', asked.subject);
  if (asked.subject !== '' && asked.focus) query.set('focus', asked.subject);
  return `/api/graph.svg?${query}`;
}

async function loadGraph() {
  if (graph.loading) {
    graph.again = true;
    return;
  }
  graph.loading = true;
  try {
    const gapMs = Math.max(graphReloadGapMs, graph.namesTotal * graphReloadGapPerNameMs);
    const waitMs = graph.asked ? 0 : graph.lastLoadMs + gapMs - Date.now();
    graph.asked = false;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    graph.lastLoadMs = Date.now();
    const asked = { subject: graph.subject, focus: graph.focus };
    const response = await fetch(graphUrl(asked), { headers: { accept: 'image/svg+xml' } });
    // The subject changed meanwhile: that change asked for another drawing (graph.again), which replaces this one.
    if (asked.subject !== graph.subject || asked.focus !== graph.focus) return;
    if (!response.ok) {
      const body = await response.json();
      $('graph-error').textContent = body.message ?? `graph unavailable (${response.status})`;
      return;
    }
    $('graph-error').textContent = '';
    const text = await response.text();
    if (text !== graph.svgText) renderGraph(text, asked);
  } catch (error) {
    $('graph-error').textContent = `graph unavailable: ${error.message}`;
  } finally {
    graph.loading = false;
    if (graph.again) {
      graph.again = false;
      loadGraph();
    }
  }
}

function renderGraph(text, asked) {
  // Parsed as XML, never as HTML; the server escapes every label, and the page's policy runs no inline script.
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = parsed.documentElement;
  if (svg.localName !== 'svg' || parsed.getElementsByTagName('parsererror').length > 0) {
    $('graph-error').textContent = 'the graph drawing could not be read';
    return;
  }
  graph.svgText = text;
  const box = $('graph');
  const scroll = [box.scrollLeft, box.scrollTop];
  box.replaceChildren(document.importNode(svg, true));
  [box.scrollLeft, box.scrollTop] = scroll;
  const ids = [...box.querySelectorAll('g.node[data-id]')].map((node) => node.getAttribute('data-id'));
  $('graph-subjects').replaceChildren(...ids.map((id) => el('option', { value: id })));
  const mode = asked.subject === '' ? 'current health: what the targets reported down lose'
    : `impact of ${asked.subject}${asked.focus ? ', its neighbourhood only' : ''}`;
  $('graph-mode').textContent = mode;
  box.setAttribute('data-mode', asked.subject === '' ? 'current' : 'impact');
  box.setAttribute('data-subject', asked.subject);
}

function showImpact(subject) {
  graph.subject = subject.trim();
  graph.focus = $('graph-focus').checked;
  $('graph-subject').value = graph.subject;
  graph.reportFor = '';
  if (graph.subject === '') {
    $('impact').hidden = true;
    $('impact').replaceChildren();
  } else {
    loadImpact();
  }
  graph.asked = true;
  loadGraph();
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? '' : 's'}`;
}

function pathText(path) {
  return path.join(' → ');
}

function impactList(title, entries, total, describe, key) {
  if (total === 0) return [];
  const more = total - entries.length;
  return [
    el('h3', {}, `${title} (${total.toLocaleString()})`),
    el('ul', { 'data-impact-list': key }, ...entries.map((entry) => el('li', { [`data-impact-${key}`]: entry.id },
      describe(entry), el('div', { className: 'path' }, pathText(entry.path))))),
    ...(more > 0 ? [el('p', { className: 'muted' }, `and ${more.toLocaleString()} more`)] : []),
  ];
}

async function loadImpact() {
  const subject = graph.subject;
  const version = view.status?.inventoryVersion ?? 0;
  graph.reportFor = `${version}|${subject}`;
  const box = $('impact');
  try {
    const response = await fetch(`/api/impact?${new URLSearchParams({ of: subject, limit: String(impactListShown) })}`);
    const report = await response.json();
    if (subject !== graph.subject) return;
    box.hidden = false;
    if (!response.ok) return box.replaceChildren(el('p', { className: 'error', id: 'impact-error' }, report.message));
    const { totals } = report;
    const counts = `: ${plural(totals.namesLost, 'name')} lost, ${totals.namesDegraded} degraded, `
      + `${plural(totals.targets, 'target')}, ${plural(totals.services, 'service')}`;
    const degradedText = (entry) => ` ${Math.round(entry.capacityLostFraction * 100)}% of capacity lost`
      + `${entry.failover ? ', on its secondaries' : ''}`;
    const nothing = totals.services + totals.namesLost + totals.namesDegraded === 0;
    box.replaceChildren(
      el('div', { id: 'impact-summary', 'data-subject': report.failed.join(',') },
        el('b', {}, `Impact of ${report.failed.join(', ')}`), counts),
      ...impactList('Services affected', report.services, totals.services,
        (entry) => [el('b', {}, entry.service), ` ${entry.severity} · ${entry.criticality}`], 'service'),
      ...impactList('Names lost', report.namesLost, totals.namesLost, (entry) => el('b', {}, entry.name), 'name-lost'),
      ...impactList('Names degraded', report.namesDegraded, totals.namesDegraded,
        (entry) => [el('b', {}, entry.name), degradedText(entry)], 'name-degraded'),
      ...(nothing ? [el('p', { className: 'muted' }, 'nothing depends on it')] : []));
  } catch (error) {
    box.hidden = false;
    box.replaceChildren(el('p', { className: 'error' }, `impact unavailable: ${error.message}`));
  }
}

// ---- actions -------------------------------------------------------------------------

let pendingAction = null;

function nameAction(item, action) {
  const effects = {
    freeze: 'Enactors and the reconciler will leave this name exactly as it is.',
    unfreeze: 'Enactors will bring the name to the newest plan.',
    reenact: 'The reconciler rewrites the name with the newest plan on its next pass.',
  };
  openAction(`${action} ${item.name}`, effects[action], `/api/names/${encodeURIComponent(item.name)}/${action}`);
}

function targetAction(target, action) {
  const effect = action === 'drain'
    ? 'The planner publishes a plan with this target at weight 0; enactors apply it.'
    : 'The planner restores the target\'s weight in the next plan.';
  openAction(`${action} ${target.id}`, effect, `/api/targets/${encodeURIComponent(target.id)}/${action}`);
}

function openAction(title, effect, url) {
  pendingAction = { url };
  $('action-title').textContent = title;
  $('action-effect').textContent = effect;
  $('action-error').textContent = '';
  $('reason-input').value = '';
  const token = sessionStorage.getItem(tokenKey);
  $('token-row').hidden = token !== null;
  $('token-input').value = '';
  $('action-dialog').showModal();
  (token === null ? $('token-input') : $('reason-input')).focus();
}

async function confirmAction(event) {
  event.preventDefault();
  if (pendingAction === null) return;
  if (!$('token-row').hidden) {
    const typed = $('token-input').value.trim();
    if (typed === '') return void ($('action-error').textContent = 'the API token is required for actions');
    sessionStorage.setItem(tokenKey, typed);
  }
  const reason = $('reason-input').value.trim();
  if (reason === '') return void ($('action-error').textContent = 'say why: the reason is recorded in history');
  $('action-confirm').disabled = true;
  try {
    const response = await fetch(pendingAction.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sessionStorage.getItem(tokenKey)}` },
      body: JSON.stringify({ reason }),
    });
    const body = await response.json();
    if (response.status === 401) {
      sessionStorage.removeItem(tokenKey);
      $('token-row').hidden = false;
    }
    if (!response.ok) return void ($('action-error').textContent = body.message);
    $('action-dialog').close();
    pendingAction = null;
    showToast(`${body.action} ${body.subject} accepted${body.changed ? '' : ' (already in effect)'}: ${body.effect}`);
    loadNames();
  } catch (error) {
    $('action-error').textContent = `request failed: ${error.message}`;
  } finally {
    $('action-confirm').disabled = false;
  }
}

let toastTimer = null;
function showToast(text) {
  const toast = $('toast');
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
}

// ---- wiring --------------------------------------------------------------------------

function wire() {
  let filterTimer = null;
  $('name-filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      view.q = $('name-filter').value.trim();
      view.offset = 0;
      loadNames();
    }, 200);
  });
  $('prev-page').addEventListener('click', () => {
    view.offset = Math.max(0, view.offset - pageSize);
    loadNames();
  });
  $('next-page').addEventListener('click', () => {
    view.offset += pageSize;
    loadNames();
  });
  $('zone-freeze').addEventListener('click', () => {
    const frozen = view.status?.freezes.includes('*');
    openAction(
      frozen ? 'Unfreeze the zone' : 'Freeze the zone',
      frozen
        ? 'Enactors bring every name to the newest plan.'
        : 'No enactor or reconciler changes any name until the zone is unfrozen.',
      frozen ? '/api/zone/unfreeze' : '/api/zone/freeze',
    );
  });
  $('force-plan').addEventListener('click', () => openAction(
    'Force the next plan',
    'The planner leader publishes its next plan even if the safety threshold refuses it.',
    '/api/plans/force',
  ));
  $('token-button').addEventListener('click', () => {
    sessionStorage.removeItem(tokenKey);
    showToast('token forgotten; the next action asks for it');
  });
  $('action-form').addEventListener('submit', confirmAction);
  $('graph-form').addEventListener('submit', (event) => {
    event.preventDefault();
    showImpact($('graph-subject').value);
  });
  $('graph-clear').addEventListener('click', () => showImpact(''));
  $('graph-focus').addEventListener('change', () => showImpact(graph.subject));
  // A click on a node shows its impact (the "+K more" nodes have no id).
  $('graph').addEventListener('click', (event) => {
    const node = event.target.closest('g.node[data-id]');
    if (node !== null) showImpact(node.getAttribute('data-id'));
  });
  $('action-cancel').addEventListener('click', () => {
    pendingAction = null;
    $('action-dialog').close();
  });
  // Heartbeat ages move between two status messages.
  setInterval(renderEnactors, 250);
}

wire();
// The names first, then the graph: on a large inventory the API's work for the graph would hold the first page.
loadNames().finally(() => {
  graph.ready = true;
  loadGraph();
});
loadTimeline();
connectEvents();
