// The harness inspector: live beacons over SSE, their JSON, the bad list, lint, plan violations
// and the identity timeline. Every piece of payload text reaches the page through textContent,
// setAttribute on inert attributes, or SVG <title> text: never innerHTML, never a URL, never a
// class name taken from a beacon. The page's CSP forbids inline script as a second line of defence.
(() => {
  'use strict';

  const TYPES = new Set(['identify', 'track', 'page', 'screen', 'group', 'alias']);
  const TRANSPORTS = new Set(['beacon', 'fetch-keepalive', 'fetch', 'fetchlater', 'xhr', 'server', 'other']);
  const SEVERITIES = new Set(['error', 'warning', 'info']);
  const MAX_ROWS = 500; // rendered rows; the rest stay in memory and in the filters' reach
  const BACKLOG = 5000; // beacons fetched on (re)connect
  const KEEP = 20000; // beacons kept in the page; older ones leave as new ones arrive
  const PEOPLE = 50; // profiles drawn: the most recently active, from /api/profiles?order=recent
  const MARKS = 40; // newest messages per profile on the timeline
  const BAD_SHOWN = 200; // rejected submissions listed (fetched as deltas: ?since=<last id>)
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    beacons: new Map(), // seq -> record
    bySeqDesc: [], // seqs, newest first
    live: [], // seqs that arrived on the stream since the last render
    byMessageId: new Map(),
    fresh: new Set(),
    selected: null,
    violations: new Map(), // messageId -> [violation]
    findings: [],
    lastJson: {},
    bad: [], // the newest BAD_SHOWN rejected submissions, oldest first
    badTotal: 0,
    badKept: 0,
    badRejected: 0, // /api/bad's rejected: the header's BAD
    badResent: 0, // re-send notes (kind "conflict"): answered 200, not rejections
  };

  // ---- tiny DOM helpers (text only) --------------------------------------------------------
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  const str = (value) => (value === null || value === undefined ? '' : String(value));
  const typeClass = (type) => (TYPES.has(type) ? `t-${type}` : 't-other');
  const transportOf = (r) => str(r && r._meta && r._meta.transport);
  const seqOf = (r) => Number(r && r._meta && r._meta.seq) || 0;
  const shortId = (id, n = 8) => { const s = str(id); return s.length > n + 1 ? `${s.slice(0, n)}…` : s; };

  function what(r) {
    const props = r.properties && typeof r.properties === 'object' ? r.properties : {};
    const page = r.context && r.context.page && typeof r.context.page === 'object' ? r.context.page : {};
    switch (r.type) {
      case 'track': return str(r.event);
      case 'page': case 'screen': return str(r.name || props.path || page.path);
      case 'group': return str(r.groupId);
      case 'alias': return `${str(r.previousId)} → ${str(r.userId)}`;
      case 'identify': return r.traits && typeof r.traits === 'object' ? Object.keys(r.traits).join(', ') : '';
      default: return '';
    }
  }

  function parseTime(value) {
    if (typeof value !== 'string' || !value) return NaN;
    return Date.parse(value);
  }

  const eventTime = (r) => {
    for (const key of ['originalTimestamp', 'timestamp', 'receivedAt']) {
      const t = parseTime(r[key]);
      if (!Number.isNaN(t)) return t;
    }
    return NaN;
  };

  function clock(value) {
    const t = typeof value === 'number' ? value : parseTime(value);
    if (Number.isNaN(t)) return str(value);
    return new Date(t).toISOString().slice(11, 23);
  }

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function stamp(t) {
    const d = new Date(t);
    return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${d.toISOString().slice(11, 16)}`;
  }

  function humanGap(ms) {
    const s = ms / 1000;
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 129600) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} days`;
  }

  // ---- server access ------------------------------------------------------------------------------
  async function api(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (response.status === 401) throw new Error('This server needs its API token: open /inspector?token=…');
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }

  function banner(message) {
    const node = $('banner');
    node.textContent = message || '';
    node.hidden = !message;
  }

  /** Replace a section's content only when its data changed (no flicker, no lost scroll). */
  function changed(key, data) {
    const text = JSON.stringify(data);
    if (state.lastJson[key] === text) return false;
    state.lastJson[key] = text;
    return true;
  }

  // ---- beacons --------------------------------------------------------------------------------------
  function addBeacon(record, live) {
    if (!record || typeof record !== 'object') return false;
    const seq = seqOf(record);
    if (!seq || state.beacons.has(seq)) return false;
    state.beacons.set(seq, record);
    if (record.messageId) state.byMessageId.set(str(record.messageId), seq);
    if (live) state.fresh.add(seq);
    return true;
  }

  /** Full re-sort, after a backlog load. Live arrivals take the cheap path: see addLive(). */
  function resort() {
    state.live = [];
    state.bySeqDesc = Array.from(state.beacons.keys()).sort((a, b) => b - a);
    forgetOldest();
  }

  function forgetOldest() {
    if (state.bySeqDesc.length <= KEEP) return; // a long session on a busy store: forget the oldest
    for (const seq of state.bySeqDesc.splice(KEEP)) {
      const r = state.beacons.get(seq);
      state.beacons.delete(seq);
      if (r && r.messageId && state.byMessageId.get(str(r.messageId)) === seq) state.byMessageId.delete(str(r.messageId));
    }
  }

  /** Live beacons arrive in seq order, newer than what is listed: queue them, merge once per render. */
  function mergeLive() {
    if (!state.live.length) return [];
    const fresh = state.live.sort((a, b) => b - a);
    state.live = [];
    const newest = state.bySeqDesc.length ? state.bySeqDesc[0] : 0;
    if (fresh[fresh.length - 1] > newest) {
      state.bySeqDesc = fresh.concat(state.bySeqDesc);
    } else { // out of order: rare; everything is drawn again
      state.bySeqDesc = Array.from(state.beacons.keys()).sort((a, b) => b - a);
      fullRender = true;
    }
    forgetOldest();
    return fresh;
  }

  function filters() {
    return {
      type: $('f-type').value,
      event: $('f-event').value.trim().toLowerCase(),
      user: $('f-user').value.trim().toLowerCase(),
      anon: $('f-anon').value.trim().toLowerCase(),
    };
  }

  function matches(r, f) {
    if (f.type && r.type !== f.type) return false;
    if (f.event && !what(r).toLowerCase().includes(f.event)) return false;
    if (f.user && !str(r.userId).toLowerCase().includes(f.user)) return false;
    if (f.anon && !str(r.anonymousId).toLowerCase().includes(f.anon)) return false;
    return true;
  }

  function badge(text, cls, title) {
    return el('span', { class: `badge ${cls}`, title }, text);
  }

  function beaconRow(r) {
    const seq = seqOf(r);
    const transport = transportOf(r);
    const problems = state.violations.get(str(r.messageId)) || [];
    const name = el('td', { class: 'what' }, what(r));
    if (problems.length) {
      name.append(' ', badge('plan', 'warn', problems.map((v) => `${str(v.field)}: ${str(v.message)}`).join('\n')));
    }
    const row = el('tr', { tabindex: '0', 'data-seq': seq, 'aria-selected': state.selected === seq ? 'true' : 'false' },
      el('td', { class: 'num muted' }, seq),
      el('td', { class: 'mono' }, clock(r.receivedAt)),
      el('td', {}, badge(str(r.type) || '?', typeClass(r.type))),
      name,
      el('td', { class: 'mono' }, str(r.userId) || el('span', { class: 'muted' }, '–')),
      el('td', { class: 'mono', title: str(r.anonymousId) }, shortId(r.anonymousId) || '–'),
      el('td', {}, transport ? badge(transport, TRANSPORTS.has(transport) ? `tr-${transport}` : 'tr-other') : ''));
    if (state.fresh.has(seq)) row.classList.add('fresh');
    if (state.selected === seq) row.classList.add('selected');
    return row;
  }

  let renderTimer = null;
  let renderCost = 0; // ms the last render took: a busy store re-renders less often, never more than 1/s less
  let fullRender = true; // false while only live arrivals happened: they are prepended, the rest stays
  let drawnUnfiltered = false;
  function scheduleRender(full = true) {
    if (full) fullRender = true;
    // a user's change shows at once; live arrivals are drawn in bunches (at most five times a second)
    const wait = Math.min(1000, Math.max(full ? 30 : 200, 4 * renderCost));
    if (renderTimer === null) renderTimer = setTimeout(() => { renderTimer = null; renderBeacons(); }, wait);
  }

  function renderBeacons() {
    const started = performance.now();
    try { drawBeacons(); } finally { renderCost = performance.now() - started; }
  }

  function drawBeacons() {
    const fresh = mergeLive();
    const f = filters();
    const unfiltered = !f.type && !f.event && !f.user && !f.anon;
    if (unfiltered && drawnUnfiltered && !fullRender) { // only new arrivals: prepend their rows, drop the oldest
      const body = $('beacon-rows');
      body.prepend(...fresh.slice(0, MAX_ROWS).map((seq) => beaconRow(state.beacons.get(seq))));
      while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
      state.fresh.clear();
      countBeacons(state.bySeqDesc.length);
      return;
    }
    fullRender = false;
    drawnUnfiltered = unfiltered;
    const rows = [];
    let matched = 0;
    if (unfiltered) { // no filter: the newest rows, nothing else to look at
      for (const seq of state.bySeqDesc.slice(0, MAX_ROWS)) rows.push(beaconRow(state.beacons.get(seq)));
      matched = state.bySeqDesc.length;
    } else {
      for (const seq of state.bySeqDesc) {
        const r = state.beacons.get(seq);
        if (!matches(r, f)) continue;
        matched += 1;
        if (rows.length < MAX_ROWS) rows.push(beaconRow(r));
      }
    }
    $('beacon-rows').replaceChildren(...rows);
    state.fresh.clear();
    countBeacons(matched);
  }

  function countBeacons(matched) {
    const total = state.beacons.size;
    const filtered = matched !== total;
    $('beacon-count').textContent = `${filtered ? `${matched} of ` : ''}${total} beacon${total === 1 ? '' : 's'}`
      + (matched > MAX_ROWS ? ` · newest ${MAX_ROWS} shown` : '');
    const empty = $('beacons-empty');
    empty.hidden = matched > 0;
    empty.textContent = total ? 'No beacon matches these filters.' : 'Waiting for beacons…';
  }

  function select(seq) {
    if (!state.beacons.has(seq)) return;
    state.selected = seq;
    for (const row of $('beacon-rows').querySelectorAll('tr.selected')) {
      row.classList.remove('selected');
      row.setAttribute('aria-selected', 'false');
    }
    const row = $('beacon-rows').querySelector(`tr[data-seq="${seq}"]`);
    if (row) { row.classList.add('selected'); row.setAttribute('aria-selected', 'true'); }
    highlightMarks();
    renderDetail();
  }

  /** Ring the selected beacon's mark in the timeline (compared as text: ids never enter a selector). */
  function highlightMarks() {
    const r = state.beacons.get(state.selected);
    const id = r ? str(r.messageId) : null;
    for (const node of $('timeline').querySelectorAll('.mark')) {
      node.classList.toggle('selected', id !== null && node.getAttribute('data-message-id') === id);
    }
  }

  function selectMessage(messageId) {
    const seq = state.byMessageId.get(str(messageId));
    if (seq) {
      select(seq);
      $('detail').scrollIntoView({ block: 'nearest' });
    }
  }

  function renderDetail() {
    const r = state.beacons.get(state.selected);
    if (!r) return;
    const title = $('detail-title');
    title.replaceChildren(badge(str(r.type) || '?', typeClass(r.type)), ' ', what(r) || '(unnamed)');
    const meta = r._meta && typeof r._meta === 'object' ? r._meta : {};
    const context = r.context && typeof r.context === 'object' ? r.context : {};
    const lib = context.library && typeof context.library === 'object' ? context.library : {};
    // a vendor wire the collector decoded (PostHog's): its name and its own message, as it arrived
    const vendor = r._vendor && typeof r._vendor === 'object' && r._vendor.message && typeof r._vendor.message === 'object'
      ? r._vendor : null;
    const facts = [
      ['seq', meta.seq], ['messageId', r.messageId], ['userId', r.userId], ['anonymousId', r.anonymousId],
      ['transport', meta.transport], ['device', meta.device], ['timestamp', r.timestamp], ['receivedAt', r.receivedAt],
      ['library', [vendor && str(vendor.name) !== str(lib.name) ? vendor.name : '', lib.name, lib.version]
        .map(str).filter(Boolean).join(' ')],
    ];
    $('detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { class: 'mono' }, str(v) || '–')]));
    const notes = [];
    for (const v of state.violations.get(str(r.messageId)) || []) {
      notes.push(el('p', { class: 'note warn' }, `Tracking plan: ${str(v.field)} — ${str(v.message)}`));
    }
    for (const finding of state.findings) {
      if ((finding.message_ids || []).map(str).includes(str(r.messageId))) {
        notes.push(el('p', { class: `note ${SEVERITIES.has(finding.severity) ? finding.severity : 'info'}` },
          `Lint ${str(finding.rule)}: ${str(finding.message)}`));
      }
    }
    if (vendor) {  // the vendor's own message: _vendor.message, its properties being the beacon's (kept once)
      const raw = Object.assign({}, vendor.message);
      if (vendor.properties_in === 'properties') raw.properties = r.properties;
      const own = el('pre', { class: 'json vendor-json' });
      renderJson(own, raw, 0);
      notes.push(el('details', { class: 'vendor' },
        el('summary', {}, `${str(vendor.name)}'s own message (${str(vendor.endpoint) || 'as sent'})`), own));
    }
    $('detail-notes').replaceChildren(...notes);
    const pre = $('detail-json');
    pre.replaceChildren();
    renderJson(pre, r, 0);
  }

  /** Pretty-print a JSON value as coloured text spans (each piece via textContent). */
  function renderJson(parent, value, depth) {
    const pad = '  '.repeat(depth);
    const span = (cls, text) => parent.append(el('span', { class: cls }, text));
    if (value === null) { span('j-null', 'null'); return; }
    if (Array.isArray(value)) {
      if (!value.length) { parent.append('[]'); return; }
      parent.append('[\n');
      value.forEach((item, i) => {
        parent.append(`${pad}  `);
        renderJson(parent, item, depth + 1);
        parent.append(i < value.length - 1 ? ',\n' : '\n');
      });
      parent.append(`${pad}]`);
      return;
    }
    switch (typeof value) {
      case 'object': {
        const keys = Object.keys(value);
        if (!keys.length) { parent.append('{}'); return; }
        parent.append('{\n');
        keys.forEach((key, i) => {
          parent.append(`${pad}  `);
          span('j-key', JSON.stringify(key));
          parent.append(': ');
          renderJson(parent, value[key], depth + 1);
          parent.append(i < keys.length - 1 ? ',\n' : '\n');
        });
        parent.append(`${pad}}`);
        return;
      }
      case 'string': span('j-str', JSON.stringify(value)); return;
      case 'number': span('j-num', String(value)); return;
      case 'boolean': span('j-bool', String(value)); return;
      default: span('j-null', 'null');
    }
  }

  // ---- stats, bad list, lint, violations --------------------------------------------------------------
  function renderStats(stats) {
    if (!stats || !changed('stats', stats)) return;
    if (typeof stats.stored === 'number' && stats.stored < state.beacons.size) loadBeacons(); // store was cleared
    if (typeof stats.bad === 'number' && stats.bad < state.badRejected) { // store was cleared
      state.bad = []; state.badTotal = 0; state.badRejected = 0;
    }
    const items = ['received', 'stored', 'duplicates', 'bad', 'unauthorized'].filter((k) => k in stats);
    $('stats').replaceChildren(...items.map((k) => el('div', { class: `stat stat-${k}` },
      el('dt', {}, k), el('dd', {}, str(stats[k])))));
  }

  function table(headers, rows, cls) {
    return el('table', { class: `plain ${cls || ''}` },
      el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows));
  }

  function messageLinks(ids) {
    const wrap = el('span', { class: 'links' });
    for (const id of (ids || []).slice(0, 6)) {
      const button = el('button', { type: 'button', class: 'link mono', title: `open ${str(id)}` }, shortId(id));
      button.addEventListener('click', () => selectMessage(id));
      wrap.append(button, ' ');
    }
    if ((ids || []).length > 6) wrap.append(el('span', { class: 'muted' }, `+${ids.length - 6} more`));
    return wrap;
  }

  /** Merge a delta from /api/bad?since=<last id> into the newest BAD_SHOWN entries. */
  function mergeBad(doc) {
    const fresh = ((doc && doc.bad) || []).filter((b) => b && typeof b === 'object');
    if (Number(doc && doc.total) < state.badTotal) state.bad = []; // the store was cleared meanwhile
    const last = state.bad.length ? Number(state.bad[state.bad.length - 1].id) || 0 : 0;
    state.bad = state.bad.concat(fresh.filter((b) => (Number(b.id) || 0) > last)).slice(-BAD_SHOWN);
    state.badTotal = Number(doc && doc.total) || state.bad.length;
    state.badKept = Number(doc && doc.kept) || state.bad.length;
    state.badRejected = Number(doc && doc.rejected) || 0;
    state.badResent = Number(doc && doc.resent) || 0;
    renderBad();
  }

  function renderBad() {
    const entries = state.bad;
    if (!changed('bad', [state.badTotal, entries.length ? entries[entries.length - 1].id : 0])) return;
    const dropped = state.badTotal > state.badKept ? ` (${state.badTotal} in all; the oldest were let go)` : '';
    const split = `${state.badRejected} rejected, ${state.badResent} re-sent with changes (answered 200)`;
    $('bad-summary').textContent = entries.length
      ? `${state.badKept > entries.length ? `newest ${entries.length} of ${state.badKept}` : entries.length} kept `
        + `with their reasons: ${split}${dropped}` : '';
    if (!entries.length) {
      $('bad').replaceChildren(el('p', { class: 'empty' }, 'None: every submission was valid.'));
      return;
    }
    const rows = entries.slice(-200).reverse().map((b) => {
      const resend = b.kind === 'conflict'; // a library re-sent a stored messageId with changes: not a rejection
      return el('tr', { class: resend ? 'resend' : 'rejected' },
        el('td', { class: 'num muted' }, str(b.id)),
        el('td', { class: 'mono' }, clock(b.receivedAt)),
        el('td', {}, resend ? badge('re-send', 'resend', `answered ${str(b.status)}; the first copy is kept`)
          : badge(str(b.status), 'status')),
        el('td', { class: 'mono' }, str(b.path)),
        el('td', { class: resend ? 'resend-reason' : 'reason' }, str(b.reason), resend ? resendDiff(b.diff) : ''),
        el('td', {}, el('details', {}, el('summary', {}, shortId(b.raw, 40) || '(empty)'),
          el('pre', { class: 'json' }, str(b.raw)))));
    });
    $('bad').replaceChildren(table(['id', 'received', 'status', 'path', 'reason', 'body'], rows, 'bad-table'));
  }

  /** The fields a re-send changed: field, stored value, re-sent value. */
  function resendDiff(diff) {
    const changes = Array.isArray(diff) ? diff.filter((d) => d && typeof d === 'object') : [];
    if (!changes.length) return '';
    const shown = (d, key) => (key in d ? JSON.stringify(d[key]) : '(absent)');
    return table(['field', 'stored', 're-sent'], changes.map((d) => el('tr', {},
      el('td', { class: 'mono' }, str(d.field)), el('td', { class: 'mono' }, shown(d, 'stored')),
      el('td', { class: 'mono' }, shown(d, 'resent')))), 'resend-diff');
  }

  function renderLint(doc) {
    const findings = (doc && doc.findings) || [];
    state.findings = findings;
    if (!changed('lint', findings)) return;
    const count = (s) => findings.filter((f) => f.severity === s).length;
    $('lint-summary').textContent = findings.length
      ? `${count('error')} errors · ${count('warning')} warnings · ${count('info')} info` : '';
    if (!findings.length) {
      $('lint').replaceChildren(el('p', { class: 'empty ok' }, 'No findings: the beacons follow the sources\u2019 advice.'));
      return;
    }
    const order = { error: 0, warning: 1, info: 2 };
    const sorted = findings.slice().sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
    const rows = sorted.map((f) => el('tr', {},
      el('td', {}, badge(str(f.severity), SEVERITIES.has(f.severity) ? `sev-${f.severity}` : 'sev-info')),
      el('td', {}, el('div', { class: 'mono' }, str(f.rule)), el('div', { class: 'muted small' }, str(f.claim))),
      el('td', {}, el('div', {}, str(f.message)), el('div', { class: 'fix' }, str(f.fix))),
      el('td', {}, messageLinks(f.message_ids))));
    $('lint').replaceChildren(table(['severity', 'rule', 'finding and fix', 'messages'], rows, 'lint-table'));
  }

  function renderViolations(doc) {
    const list = (doc && doc.violations) || [];
    const plan = Boolean(doc && doc.plan);
    state.violations = new Map();
    for (const v of list) {
      const key = str(v.messageId || v.message_id);
      if (!state.violations.has(key)) state.violations.set(key, []);
      state.violations.get(key).push(v);
    }
    if (!changed('violations', { list, plan })) return;
    $('violations-summary').textContent = plan ? `${list.length} violation${list.length === 1 ? '' : 's'}` : '';
    if (!plan && !list.length) {
      $('violations').replaceChildren(el('p', { class: 'empty' },
        'No tracking plan loaded (start the server with --tracking-plan PATH).'));
    } else if (!list.length) {
      $('violations').replaceChildren(el('p', { class: 'empty ok' }, 'Every message follows the tracking plan.'));
    } else {
      const rows = list.slice(0, 300).map((v) => el('tr', {},
        el('td', {}, str(v.event)),
        el('td', { class: 'mono' }, str(v.field)),
        el('td', {}, badge(str(v.rule), 'warn')),
        el('td', {}, str(v.message)),
        el('td', {}, messageLinks([v.messageId || v.message_id]))));
      $('violations').replaceChildren(table(['event', 'field', 'rule', 'problem', 'message'], rows, 'violations-table'));
    }
    scheduleRender(); // rows carry a "plan" badge
  }

  // ---- identity timeline (SVG) ----------------------------------------------------------------------------
  function deviceKind(messages) {
    for (const m of messages) {
      if (transportOf(m) === 'server') return 'server';
      const ua = str(m.context && m.context.userAgent);
      if (ua) return /Mobile|iPhone|iPad|Android/i.test(ua) ? 'phone' : 'desktop';
    }
    return 'device';
  }

  function renderLegend() {
    const box = svg('svg', { width: 820, height: 22, class: 'legend-svg', role: 'img', 'aria-label': 'legend' });
    const items = [
      ['circle', 't-page', 'page', false], ['rect', 't-track', 'track', false], ['diamond', 't-identify', 'identify', true],
      ['circle', 't-page', 'anonymous (hollow)', false], ['circle', 't-page filled', 'with userId (filled)', true],
    ];
    let x = 8;
    for (const [shape, cls, label, filled] of items) {
      box.append(mark(shape, x, 11, `${cls}${filled ? ' filled' : ''}`));
      const text = svg('text', { x: x + 10, y: 15, class: 'legend-text' }, label);
      box.append(text);
      x += 22 + label.length * 6.6;
    }
    box.append(svg('path', { d: `M${x} 17 C ${x + 10} 17, ${x + 10} 5, ${x + 22} 5`, class: 'link' }));
    box.append(svg('text', { x: x + 28, y: 15, class: 'legend-text' }, 'identify joins the person'));
    $('legend').replaceChildren(box);
  }

  function mark(shape, x, y, cls) {
    if (shape === 'rect') return svg('rect', { x: x - 5, y: y - 5, width: 10, height: 10, rx: 1.5, class: `mark ${cls}` });
    if (shape === 'diamond') {
      return svg('path', { d: `M${x} ${y - 7} L${x + 7} ${y} L${x} ${y + 7} L${x - 7} ${y} Z`, class: `mark ${cls}` });
    }
    return svg('circle', { cx: x, cy: y, r: 5.5, class: `mark ${cls}` });
  }

  const shapeOf = (type) => (type === 'identify' || type === 'alias' ? 'diamond' : type === 'track' ? 'rect' : 'circle');

  /** Compressed time axis: every message gets a step, long gaps grow only logarithmically. */
  function timeScale(messages, x0, x1) {
    const sorted = messages.map((m) => ({ m, t: eventTime(m) })).sort((a, b) => (a.t - b.t) || (seqOf(a.m) - seqOf(b.m)));
    const pos = new Map();
    const breaks = [];
    let cum = 0;
    sorted.forEach((item, i) => {
      if (i > 0) {
        const gap = Math.max(0, item.t - sorted[i - 1].t) || 0;
        const step = 0.9 + Math.log10(1 + gap / 1000) * 1.4;
        if (gap >= 3600 * 1000) breaks.push({ at: cum + step / 2, gap, t: item.t });
        cum += step;
      }
      pos.set(item.m, cum);
    });
    const scale = (v) => (cum ? x0 + (v / cum) * (x1 - x0) : (x0 + x1) / 2);
    return { x: (m) => scale(pos.get(m) || 0), breaks: breaks.map((b) => ({ ...b, x: scale(b.at) })), sorted, scale, pos };
  }

  function renderTimeline(doc) {
    // the most recently active people, drawn oldest first
    const profiles = ((doc && doc.profiles) || []).filter((p) => p && typeof p === 'object')
      .sort((a, b) => str(a.first_seen).localeCompare(str(b.first_seen)));
    const total = Number(doc && doc.total) || profiles.length;
    if (!changed('profiles', [profiles.map((p) => [p.id, p.event_count, p.last_seen, p.anonymous_ids]), doc && doc.mtu,
      doc && doc.mtu_without_identify, $('timeline').clientWidth])) return;
    const mtu = (doc && doc.mtu) || {};
    const without = (doc && doc.mtu_without_identify) || {};
    $('mtu').textContent = Object.keys(mtu).sort().map((month) => `${month}: MTU ${mtu[month]}`
      + (without && typeof without === 'object' && month in without ? ` (would be ${without[month]} without identify)` : ''))
      .join(' · ') + (total > profiles.length ? ` · the ${profiles.length} most recently active of ${total} profiles` : '');
    const host = $('timeline');
    if (!profiles.length) { host.replaceChildren(el('p', { class: 'empty' }, 'No beacons yet.')); return; }

    const all = profiles.flatMap((p) => (p.messages || []).filter((m) => m && typeof m === 'object'));
    const gutter = 200;
    const width = Math.min(Math.max(host.clientWidth || 900, 640, gutter + 40 + all.length * 14), 24000);
    const x0 = gutter + 18;
    const x1 = width - 24;
    const scale = timeScale(all, x0, x1);
    const LANE = 40;
    const HEAD = 30;
    const GAP = 22;
    const AXIS = 34;

    // Lay out people and their lanes first to know the height.
    const people = profiles.map((p) => {
      const messages = (p.messages || []).filter((m) => m && typeof m === 'object');
      const laneIds = [];
      for (const a of p.anonymous_ids || []) if (!laneIds.includes(str(a))) laneIds.push(str(a));
      for (const m of messages) if (m.anonymousId && !laneIds.includes(str(m.anonymousId))) laneIds.push(str(m.anonymousId));
      const lanes = laneIds.map((id) => ({ id, messages: messages.filter((m) => str(m.anonymousId) === id) }));
      const userOnly = messages.filter((m) => !m.anonymousId);
      return { p, messages, lanes, userOnly };
    });
    let height = AXIS + 8;
    for (const person of people) height += HEAD + Math.max(person.lanes.length, 1) * LANE + GAP;

    const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'timeline-svg', role: 'img',
      'aria-label': `identity timeline: ${profiles.length} profile${profiles.length === 1 ? '' : 's'}` });
    root.append(svg('title', {}, 'Identity timeline'));

    // Time axis with labelled stretches and breaks for long gaps.
    const axis = svg('g', { class: 'axis' });
    axis.append(svg('line', { x1: x0, y1: AXIS - 8, x2: x1, y2: AXIS - 8, class: 'axis-line' }));
    let lastLabel = -Infinity;
    const label = (x, text, cls) => {
      if (x - lastLabel < 92) return;
      lastLabel = x;
      axis.append(svg('line', { x1: x, y1: AXIS - 12, x2: x, y2: AXIS - 4, class: 'tick' }));
      axis.append(svg('text', { x, y: AXIS - 16, class: `axis-text ${cls || ''}`, 'text-anchor': 'middle' }, text));
    };
    if (scale.sorted.length) label(scale.x(scale.sorted[0].m), stamp(scale.sorted[0].t));
    const breaks = svg('g', { class: 'breaks' });
    for (const b of scale.breaks) {
      axis.append(svg('path', { d: `M${b.x - 6} ${AXIS - 4} l4 -8 l4 8 l4 -8`, class: 'break-zigzag' }));
      breaks.append(svg('line', { x1: b.x, y1: AXIS, x2: b.x, y2: height - 18, class: 'break-line' }));
      breaks.append(svg('text', { x: b.x, y: height - 6, class: 'break-text', 'text-anchor': 'middle' }, `${humanGap(b.gap)} later`));
      const after = scale.sorted.find((s) => s.t === b.t);
      if (after) label(scale.x(after.m), stamp(after.t));
    }
    axis.append(svg('text', { x: 10, y: AXIS - 16, class: 'axis-text muted' }, 'time (UTC) →'));
    root.append(axis);

    let y = AXIS + 8;
    people.forEach((person, index) => {
      const { p, lanes, userOnly } = person;
      const g = svg('g', { class: `person ${p.identified ? 'identified' : 'anonymous'}` });
      const top = y;
      const bottom = y + HEAD + Math.max(lanes.length, 1) * LANE;
      g.append(svg('rect', { x: 4, y: top - 4, width: width - 8, height: bottom - top + 6, rx: 8, class: 'person-box' }));
      const traits = p.traits && typeof p.traits === 'object' ? p.traits : {};
      const who = p.identified ? `${(p.user_ids || []).map(str).join(', ')}` : 'anonymous visitor';
      const title = svg('text', { x: 16, y: top + 15, class: 'person-title' }, `${index + 1}. ${who}`);
      g.append(title);
      // devices as the API and the CLI count them (browser profiles); lanes are anonymousIds
      const devices = Array.isArray(p.devices) ? p.devices.length : lanes.length;
      const sub = [traits.name ? str(traits.name) : '', `${devices} device${devices === 1 ? '' : 's'}`,
        lanes.length !== devices ? `${lanes.length} anonymousId${lanes.length === 1 ? '' : 's'}` : '',
        `${p.event_count || person.messages.length} messages`].filter(Boolean).join(' · ');
      g.append(svg('text', { x: 16, y: top + 28, class: 'person-sub' }, sub));

      // The person line: the userId, from the first identified message on.
      const personY = top + 20;
      const identified = person.messages.filter((m) => m.userId);
      if (identified.length) {
        const xs = identified.map((m) => scale.x(m));
        const start = Math.min(...xs);
        const end = Math.max(...xs, start + 1);
        g.append(svg('line', { x1: start, y1: personY, x2: end + 8, y2: personY, class: 'person-line' }));
        g.append(svg('text', { x: end + 12 > x1 - 40 ? end - 4 : end + 12, y: personY - 6,
          class: 'person-line-text', 'text-anchor': end + 12 > x1 - 40 ? 'end' : 'start' }, `userId ${shortId((p.user_ids || [])[0], 18)}`));
      }

      lanes.forEach((lane, i) => {
        const ly = top + HEAD + i * LANE + LANE / 2;
        const kind = deviceKind(lane.messages);
        g.append(svg('text', { x: 24, y: ly + 4, class: 'lane-label' }, `${kind} · ${shortId(lane.id, 8)}`));
        const xs = lane.messages.map((m) => scale.x(m));
        if (xs.length) {
          g.append(svg('line', { x1: Math.min(...xs) - 6, y1: ly, x2: Math.max(...xs) + 6, y2: ly, class: 'lane-line' }));
        }
        let linked = false;
        for (const m of lane.messages) {
          if (m.userId && (m.type === 'identify' || m.type === 'alias')) {
            const x = scale.x(m);
            g.append(svg('path', { d: `M${x} ${ly - 7} C ${x} ${(ly + personY) / 2}, ${x + 10} ${personY + 8}, ${x + 14} ${personY}`,
              class: 'link' }));
            linked = true;
          }
        }
        if (!linked) {
          const first = lane.messages.find((m) => m.userId);
          if (first) {
            const x = scale.x(first);
            g.append(svg('path', { d: `M${x} ${ly - 6} C ${x} ${(ly + personY) / 2}, ${x + 10} ${personY + 8}, ${x + 14} ${personY}`,
              class: 'link implicit' }));
          }
        }
        for (const m of lane.messages) g.append(markFor(m, scale.x(m), ly));
      });
      for (const m of userOnly) g.append(markFor(m, scale.x(m), personY));
      root.append(g);
      y = bottom + GAP;
    });
    root.insertBefore(breaks, root.querySelector('g.person'));
    host.replaceChildren(root);
    highlightMarks();
  }

  function markFor(m, x, y) {
    const cls = `${typeClass(m.type)}${m.userId ? ' filled' : ''}`;
    const node = mark(shapeOf(m.type), x, y, cls);
    node.setAttribute('tabindex', '0');
    node.setAttribute('data-message-id', str(m.messageId));
    const tip = [`${str(m.type)} ${what(m)}`.trim(), stamp(eventTime(m)), m.userId ? `userId ${str(m.userId)}` : 'anonymous',
      `anonymousId ${str(m.anonymousId) || '–'}`, transportOf(m) ? `via ${transportOf(m)}` : ''].filter(Boolean).join('\n');
    node.append(svg('title', {}, tip));
    node.addEventListener('click', () => selectMessage(m.messageId));
    node.addEventListener('keydown', (e) => { if (e.key === 'Enter') selectMessage(m.messageId); });
    return node;
  }

  // ---- refresh loop -------------------------------------------------------------------------------------
  let refreshTimer = null;
  let analysing = false;
  let lastAnalysis = 0; // ms the last refresh took: the next waits at least twice that (a busy store is not hammered)
  let lastRefreshAt = 0;
  function scheduleRefresh(delay = 400) {
    // at most one analysis refresh every 2 s while beacons stream in, and never faster than twice its cost
    const wait = Math.max(delay, 2 * lastAnalysis, 2000 - (performance.now() - lastRefreshAt));
    if (refreshTimer === null) refreshTimer = setTimeout(() => { refreshTimer = null; refreshAnalysis(); }, wait);
  }

  async function guarded(promise, render) {
    try { render(await promise); } catch (err) { banner(err && err.message ? err.message : 'request failed'); }
  }

  function badQuery() {
    const last = state.bad.length ? Number(state.bad[state.bad.length - 1].id) || 0 : 0;
    return `/api/bad?limit=${BAD_SHOWN}${last ? `&since=${last}` : ''}`;
  }

  function refreshCounters() {
    return Promise.all([guarded(api('/api/stats'), renderStats), guarded(api(badQuery()), mergeBad)]);
  }

  const PROFILES_QUERY = `/api/profiles?order=recent&limit=${PEOPLE}&messages=${MARKS}`;

  function refreshAnalysis() {
    if (analysing) { scheduleRefresh(500); return Promise.resolve(); }
    analysing = true;
    const started = performance.now();
    lastRefreshAt = started;
    return Promise.all([
      refreshCounters(),
      guarded(api(PROFILES_QUERY), renderTimeline),
      guarded(api('/api/lint'), renderLint),
      guarded(api('/api/violations'), renderViolations),
    ]).then(() => { if (state.selected !== null) renderDetail(); })
      .finally(() => { analysing = false; lastAnalysis = performance.now() - started; });
  }

  /** (Re)load the backlog; keep only live arrivals newer than it (the store may have been cleared). */
  async function loadBeacons() {
    try {
      const doc = await api(`/api/beacons?limit=${BACKLOG}`);
      const fetched = (doc.beacons || []).filter((r) => r && typeof r === 'object');
      const newest = Math.max(0, ...fetched.map(seqOf));
      const live = [...state.beacons.values()].filter((r) => seqOf(r) > newest);
      state.beacons.clear();
      state.byMessageId.clear();
      for (const r of fetched) addBeacon(r, false);
      for (const r of live) addBeacon(r, false);
      if (state.selected !== null && !state.beacons.has(state.selected)) state.selected = null;
      resort();
      banner('');
      scheduleRender();
    } catch (err) {
      banner(err && err.message ? err.message : 'cannot load beacons');
    }
  }

  /** The "Reset store" button: DELETE /api/beacons after a confirmation, then show the empty store. */
  async function resetStore() {
    if (!window.confirm('Delete every captured beacon, rejected submission and counter on this server?')) return;
    const button = $('reset-store');
    button.disabled = true;
    try {
      const response = await fetch('/api/beacons', {
        method: 'DELETE', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (response.status === 401) throw new Error('This server needs its API token: open /inspector?token=…');
      if (!response.ok) throw new Error(`DELETE /api/beacons answered ${response.status}`);
      state.beacons.clear();
      state.byMessageId.clear();
      state.fresh.clear();
      state.violations.clear();
      state.selected = null;
      $('detail-title').textContent = 'Select a beacon to see its JSON';
      $('detail-facts').replaceChildren();
      $('detail-notes').replaceChildren();
      $('detail-json').textContent = '';
      resort();
      fullRender = true; // the store was emptied: redraw every row, not just prepend arrivals
      renderBeacons();
      banner('');
      await refreshAnalysis();
    } catch (err) {
      banner(err && err.message ? err.message : 'reset failed');
    } finally {
      button.disabled = false;
    }
  }

  function setLive(stateName, text) {
    const node = $('live');
    node.dataset.state = stateName;
    node.textContent = text;
  }

  function connect() {
    const source = new EventSource('/api/stream');
    source.addEventListener('hello', (e) => {
      setLive('live', 'live');
      try { renderStats(JSON.parse(e.data).stats); } catch (_) { /* the next refresh fills it in */ }
      loadBeacons().then(refreshAnalysis);
    });
    source.addEventListener('beacon', (e) => {
      let record = null;
      try { record = JSON.parse(e.data); } catch (_) { return; }
      if (addBeacon(record, true)) {
        state.live.push(seqOf(record));
        scheduleRender(false);
        scheduleRefresh();
      }
    });
    source.addEventListener('dropped', () => setLive('down', 'fell behind; reconnecting…')); // the server closes, we reconnect
    source.addEventListener('error', () => setLive('down', 'reconnecting…'));
  }

  function wire() {
    const form = $('filters');
    form.addEventListener('input', () => scheduleRender());
    form.addEventListener('change', () => scheduleRender());
    form.addEventListener('submit', (e) => e.preventDefault());
    $('f-clear').addEventListener('click', () => { form.reset(); scheduleRender(); });
    $('reset-store').addEventListener('click', resetStore);
    const body = $('beacon-rows');
    body.addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-seq]');
      if (row) select(Number(row.dataset.seq));
    });
    body.addEventListener('keydown', (e) => {
      const row = e.target.closest('tr[data-seq]');
      if (!row) return;
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(Number(row.dataset.seq)); }
      if (e.key === 'ArrowDown' && row.nextElementSibling) row.nextElementSibling.focus();
      if (e.key === 'ArrowUp' && row.previousElementSibling) row.previousElementSibling.focus();
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => guarded(api(PROFILES_QUERY), renderTimeline), 200);
    });
    setInterval(refreshCounters, 4000); // rejected submissions do not travel on the stream
  }

  document.addEventListener('DOMContentLoaded', () => {
    renderLegend();
    wire();
    renderBeacons();
    connect();
  });
})();
