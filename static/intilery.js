/* intilery.js: analytics.js-compatible tracking; no deps, no global but `analytics`. See README. */
(() => {
  'use strict';
  const w = window, d = document, nav = navigator, VERSION = '1.0.0', stub = w.analytics;
  if (stub && stub.initialized) return;

  const warn = (...a) => { try { console.warn('[intilery]', ...a); } catch (e) { /* no console */ } };
  const iso = () => new Date().toISOString();
  const isObj = (x) => !!x && typeof x === 'object' && !Array.isArray(x);
  const isFn = (x) => typeof x === 'function';
  const isId = (x) => typeof x === 'string' || typeof x === 'number';
  const safe = (f, a) => () => { try { f(a); } catch (e) { warn('callback threw', e); } };

  const uuid = () => {
    const c = w.crypto;
    if (c.randomUUID) return c.randomUUID(); // secure contexts only
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    return [...b].map((x, i) => (i > 3 && i < 11 && !(i & 1) ? '-' : '') + (x + 256).toString(16).slice(1)).join('');
  };

  // Store: localStorage JSON (memory if unusable); cookie raw, `expires` so the page clock rules
  const ls = (() => {
    try { const s = w.localStorage, t = '__intilery'; s.setItem(t, t); s.removeItem(t); return s; } catch (e) {
      const m = new Map();
      return { getItem: (k) => m.has(k) ? m.get(k) : null, setItem: (k, v) => m.set(k, '' + v), removeItem: (k) => m.delete(k) };
    }
  })();
  const L = {
    get(k) { const v = ls.getItem(k); try { return JSON.parse(v); } catch (e) { return v; } },
    set(k, v) { try { ls.setItem(k, JSON.stringify(v)); } catch (e) { warn('localStorage write failed', k); } },
    del(k) { try { ls.removeItem(k); } catch (e) { /* ignore */ } }
  };
  const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT';
  let domain = '';
  const C = {
    get(k) {
      for (const p of d.cookie.split('; ')) {
        const j = p.indexOf('=');
        if (p.slice(0, j) === k) { try { return decodeURIComponent(p.slice(j + 1)); } catch (e) { return p.slice(j + 1); } }
      }
      return null;
    },
    set(k, v, dom = domain, exp = new Date(Date.now() + cfg.cookieDays * 864e5).toUTCString()) {
      d.cookie = `${k}=${encodeURIComponent(v).replace(/%(2[346BF]|3[AC-F]|40|5[BDE]|60|7[BCD])/g, decodeURIComponent)}; path=/; SameSite=Lax; expires=${exp}` +
        (dom ? '; domain=' + dom : '') + (cfg.cookie.secure ? '; Secure' : '');
    },
    del(k) { C.set(k, '', domain, EPOCH); C.set(k, '', '', EPOCH); }
  };

  // Cookie domain: highest that takes a test cookie (as analytics.js); IP/localhost: host-only
  const topDomain = () => {
    const h = location.hostname, p = h.split('.');
    if (p.length < 2 || /^[\d.]+$/.test(h) || h.includes(':')) return '';
    for (let i = p.length - 2; i >= 0; i--) {
      const dom = p.slice(i).join('.');
      C.set('__tld__', '1', dom);
      if (C.get('__tld__')) { C.set('__tld__', '', dom, EPOCH); return dom; }
    }
    return '';
  };

  // Ids: cookie + localStorage. On disagreement THE COOKIE WINS (subdomains and server share it;
  // localStorage is per-origin) and localStorage is rewritten; no cookie: restored from it.
  const readId = (k) => {
    const ck = keys[k], c = C.get(ck), l = L.get(ck);
    if (c) { if (l !== c) L.set(ck, c); return c; }
    if (isId(l) && l !== '') { C.set(ck, '' + l); return '' + l; }
    return null;
  };
  const writeId = (k, v) => {
    const ck = keys[k];
    if (v == null || v === '') { C.del(ck); L.del(ck); } else { C.set(ck, '' + v); L.set(ck, '' + v); }
  };
  const traitsOf = (k, t) => { // traits({}) clears
    if (t !== undefined) L.set(keys[k], isObj(t) ? t : {});
    const v = L.get(keys[k]);
    return isObj(v) ? v : {};
  };

  // User/Group: traits merge unless the id changes from one to another
  const identity = (o, id, t) => {
    const cur = o.id();
    t = isObj(t) ? t : {};
    o.traits(id != null && cur != null && '' + id !== cur ? t : { ...o.traits(), ...t });
    if (id != null) o.id(id);
  };
  const user = {
    id(v) { // a different userId: new anonymousId
      if (v !== undefined) { const p = readId('user_id'); writeId('user_id', v); if (v != null && p != null && '' + v !== p) writeId('anonymous_id', null); }
      return readId('user_id');
    },
    anonymousId(v) { // never null
      if (v !== undefined) writeId('anonymous_id', v == null || v === '' ? uuid() : v);
      let a = readId('anonymous_id');
      if (!a) writeId('anonymous_id', a = uuid());
      return a;
    },
    traits: (t) => traitsOf('user_traits', t),
    reset() { writeId('user_id', null); writeId('anonymous_id', null); L.del(keys.user_traits); }
  };
  const group = {
    id(v) { if (v !== undefined) writeId('group_id', v); return readId('group_id'); },
    traits: (t) => traitsOf('group_traits', t),
    reset() { writeId('group_id', null); L.del(keys.group_traits); }
  };

  // Delivery. Unload-safe transports cross-origin: text/plain, no Authorization (no preflight)
  const OUTBOX = 'intilery_outbox', STUBQ = 'intilery_stub_queue';
  const url = (p) => `${cfg.apiHost}/v1/${p}`;
  const sameOrigin = () => { try { return new URL(cfg.apiHost).origin === location.origin; } catch (e) { return false; } };
  const body = (p, msgs, how) => {
    const t = iso();
    for (const m of msgs) { m.sentAt = t; m._metadata = { transport: how }; }
    return JSON.stringify(p === 'batch' ? { batch: msgs, sentAt: t, writeKey } : msgs[0]);
  };
  const headers = (full) => {
    if (!full) return { 'Content-Type': 'text/plain;charset=UTF-8' };
    const h = { 'Content-Type': 'application/json' };
    try { h.Authorization = 'Basic ' + btoa(writeKey + ':'); } catch (e) { /* body only */ }
    return h;
  };
  // cb(status): 0 network error, 202 handed to the browser
  const post = (p, msgs, how, cb = () => {}) => {
    const fallback = () => post(p, msgs, 'fetch-keepalive', cb);
    if (how === 'xhr') {
      const x = new XMLHttpRequest();
      x.open('POST', url(p), true);
      x.withCredentials = true;
      for (const [k, v] of Object.entries(headers(1))) x.setRequestHeader(k, v);
      x.onload = () => cb(x.status);
      x.onerror = x.ontimeout = () => cb(0);
      x.send(body(p, msgs, how));
    } else if (how === 'beacon') {
      if (nav.sendBeacon && nav.sendBeacon(url(p), new Blob([body(p, msgs, how)], { type: 'text/plain' }))) cb(202);
      else fallback();
    } else if (how === 'fetchlater') {
      try {
        w.fetchLater(url(p), { method: 'POST', body: body(p, msgs, how), headers: headers(sameOrigin()), credentials: 'include', activateAfter: cfg.fetchLaterMs });
        cb(202);
      } catch (e) { fallback(); }
    } else {
      const ka = how === 'fetch-keepalive';
      fetch(url(p), { method: 'POST', body: body(p, msgs, how), keepalive: ka, credentials: 'include', headers: headers(!ka || sameOrigin()) })
        .then((r) => cb(r.status), () => cb(0));
    }
  };

  const Delivery = {
    q: [], timer: 0, last: new Map(), beaconed: new Set(), tries: 0, retry: 0,
    send(m, cb) {
      const mode = cfg.delivery;
      if (mode === 'persist') { this.outbox((a) => a.push(m)); this.sendItem(m, cb); }
      else if (mode !== 'batch') post(m.type, [m], { keepalive: 'fetch-keepalive', beacon: 'beacon', fetchlater: 'fetchlater' }[mode] || 'xhr', cb);
      // batch: naive on purpose, nothing saves it on unload
      else if (this.q.push([m, cb]) >= cfg.flushAt) this.flushBatch();
      else this.timer = this.timer || setTimeout(() => this.flushBatch(), cfg.flushInterval);
    },
    flushBatch() {
      const q = this.q.splice(0);
      clearTimeout(this.timer); this.timer = 0;
      if (q.length) post('batch', q.map((e) => e[0]), 'fetch', (s) => q.forEach((e) => e[1](s)));
    },
    // persist: outbox first; out on 2xx/4xx, else backoff; at-least-once
    outbox(edit) {
      let a = L.get(OUTBOX);
      a = Array.isArray(a) ? a : [];
      if (!edit) return a;
      edit(a);
      const over = a.length - cfg.outboxMax;
      if (over > 0) { a.splice(0, over); L.set(OUTBOX + '_dropped', (L.get(OUTBOX + '_dropped') | 0) + over); warn('outbox full, dropped', over); }
      L.set(OUTBOX, a);
    },
    sendItem(m, cb = () => {}) {
      const id = m.messageId;
      if (this.last.get(id) < 0) return cb(0); // in flight
      this.last.set(id, -1);
      post(m.type, [m], 'fetch-keepalive', (s) => {
        this.last.set(id, s);
        if (s >= 200 && s < 500 && s !== 408 && s !== 429) {
          this.outbox((a) => { const i = a.findIndex((x) => x.messageId === id); if (i >= 0) a.splice(i, 1); });
          if (s > 299) warn('collector refused message', s, id);
          this.tries = 0;
        } else if (!this.retry) {
          this.retry = setTimeout(() => { this.retry = 0; this.flush(); }, Math.min(500 * 2 ** this.tries++, 3e4));
        }
        cb(s);
      });
    },
    flush() { for (const m of this.outbox()) this.sendItem(m); },
    // page hidden: beacon what is unsent or got an HTTP error (in flight or status 0, e.g. cut by
    // the navigation: the keepalive request goes on; the next load re-sends), under 64 KB
    unload() {
      let chunk = [], size = 0;
      const go = () => { if (chunk.length) post('batch', chunk, 'beacon'); chunk = []; size = 0; };
      for (const m of this.outbox()) {
        if (this.last.get(m.messageId) < 1 || this.beaconed.has(m.messageId)) continue;
        this.beaconed.add(m.messageId);
        const n = JSON.stringify(m).length + 80;
        if (size + n > 6e4) go();
        chunk.push(m); size += n;
      }
      go();
    },
    start() {
      if (cfg.delivery !== 'persist') return;
      w.addEventListener('pagehide', () => this.unload());
      d.addEventListener('visibilitychange', () => {
        if (d.visibilityState === 'hidden') this.unload();
        else { this.beaconed.clear(); this.flush(); }
      });
      this.flush();
    }
  };

  // replayed stub calls keep their time, messageId, page
  let callTime = 0, callId = '', callPage = null;
  const pageInfo = () => callPage || ({ path: location.pathname, referrer: d.referrer, search: location.search, title: d.title, url: location.href });
  const dispatch = (type, fields, opts, cb) => {
    opts = isObj(opts) ? opts : {};
    if (isId(opts.anonymousId) && opts.anonymousId !== '') user.anonymousId(opts.anonymousId);
    let tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* none */ }
    const m = {
      type, messageId: callId || 'ajs-next-' + uuid(), timestamp: opts.timestamp ? new Date(opts.timestamp).toISOString() : callTime || iso(),
      anonymousId: user.anonymousId(), userId: user.id(),
      context: {
        library: { name: 'intilery.js', version: VERSION }, page: pageInfo(), userAgent: nav.userAgent, locale: nav.language,
        timezone: tz, screen: { width: w.screen.width, height: w.screen.height, density: w.devicePixelRatio },
        ...(isObj(opts.context) ? opts.context : {}) // this call only
      },
      integrations: isObj(opts.integrations) ? opts.integrations : {}, writeKey, ...fields
    };
    if (dbg) console.debug('[intilery]', type, m);
    let called = 0;
    const done = () => { if (!called++ && cb) safe(cb, m)(); };
    if (cb) setTimeout(done, cfg.timeout);
    Delivery.send(m, done);
  };
  const split = (args) => { const i = args.findIndex(isFn); return i < 0 ? [args, null] : [args.slice(0, i), args[i]]; };
  const leadId = (x) => (isId(x[0]) ? '' + x.shift() : (x.length && x[0] == null && x.shift(), null));

  const KEYS = {
    anonymous_id: 'ajs_anonymous_id', user_id: 'ajs_user_id', user_traits: 'ajs_user_traits',
    group_id: 'ajs_group_id', group_traits: 'ajs_group_properties'
  };
  const MODES = ['persist', 'xhr', 'batch', 'beacon', 'keepalive', 'fetchlater'];
  let cfg = { cookie: {}, cookieDays: 365 }, keys = KEYS, writeKey = '', loaded = false, dbg = false;
  const pending = [], readyQ = [];
  const api = { initialized: true, VERSION };
  const userApi = { id: user.id, anonymousId: user.anonymousId, traits: user.traits };
  const groupApi = { id: group.id, traits: group.traits };

  // never throws into the page; q: queued until load() (2: if given arguments)
  const pub = (name, fn, q) => {
    api[name] = (...a) => {
      try {
        if (q && !loaded && (q < 2 || a.length)) { const c = [name, ...a]; c.t = iso(); pending.push(c); return api; }
        return fn(...a);
      } catch (e) { warn(name + '() failed:', e); return api; }
    };
  };

  pub('load', (key, o) => {
    if (loaded) return warn('load() called twice; ignored'), api;
    o = isObj(o) ? o : {};
    writeKey = key == null ? '' : '' + key;
    cfg = {
      apiHost: location.origin, delivery: 'persist', flushAt: 20, flushInterval: 1000, timeout: 300,
      fetchLaterMs: 0, cookieDays: 365, outboxMax: 100, ...o, cookie: isObj(o.cookie) ? o.cookie : {}
    };
    cfg.apiHost = (/^https?:\/\//.test(cfg.apiHost) ? cfg.apiHost : 'https://' + cfg.apiHost).replace(/\/+$/, '').replace(/\/v1$/, '');
    if (!MODES.includes(cfg.delivery)) { warn('unknown delivery', cfg.delivery); cfg.delivery = 'persist'; }
    keys = { ...KEYS, ...o.keys };
    domain = cfg.cookie.hostOnly ? '' : cfg.cookie.domain ? ('' + cfg.cookie.domain).replace(/^\./, '') : topDomain();
    loaded = true;
    user.anonymousId();
    Delivery.start();
    const sq = L.get(STUBQ); // saved by a persist stub whose page left first
    L.del(STUBQ);
    if (Array.isArray(sq)) pending.unshift(...sq.filter((s) => isObj(s) && Array.isArray(s.a)).map((s) => Object.assign(s.a.slice(), s)));
    for (const c of pending.splice(0)) {
      const f = api[c[0]]; // looked up now: snippets may wrap
      callTime = c.t || 0; callId = c.id || ''; callPage = isObj(c.p) ? c.p : null;
      try { if (isFn(f)) f(...c.slice(1)); } finally { callTime = 0; callId = ''; callPage = null; }
    }
    readyQ.splice(0).forEach((f) => setTimeout(f, 0));
    return api;
  });

  pub('identify', (...a) => {
    const [x, cb] = split(a), id = leadId(x);
    identity(user, id, x[0]);
    dispatch('identify', { traits: user.traits() }, x[1], cb);
    return api;
  }, 1);

  pub('track', (...a) => {
    const [x, cb] = split(a);
    if (!isId(x[0]) || x[0] === '') { warn('track() needs an event name; nothing sent'); if (cb) setTimeout(safe(cb), 0); return api; }
    dispatch('track', { event: '' + x[0], properties: isObj(x[1]) ? x[1] : {} }, x[2], cb);
    return api;
  }, 1);

  pub('page', (...a) => {
    const [x, cb] = split(a), s = x.filter((v) => typeof v === 'string');
    const cat = s.length > 1 ? s[0] : null, name = s.length > 1 ? s[1] : s.length ? s[0] : null;
    const o = x.filter((v) => isObj(v) || (name !== null && v === null));
    const props = { ...pageInfo(), ...o[0] };
    if (name !== null) props.name = name;
    if (cat !== null) props.category = cat;
    dispatch('page', { name, category: cat, properties: props }, o[1], cb);
    return api;
  }, 1);

  pub('group', (...a) => {
    if (!a.length) return groupApi;
    const [x, cb] = split(a), id = leadId(x);
    identity(group, id, x[0]);
    const gid = group.id();
    if (!gid) return warn('group() needs a groupId; nothing sent'), api;
    dispatch('group', { groupId: gid, traits: group.traits() }, x[1], cb);
    return api;
  }, 2);

  pub('alias', (...a) => {
    const [x, cb] = split(a);
    if (!isId(x[0]) || x[0] === '') return warn('alias() needs a userId; nothing sent'), api;
    const to = '' + x.shift(), from = leadId(x);
    dispatch('alias', { userId: to, previousId: from || user.id() || user.anonymousId() }, x[0], cb);
    return api;
  }, 1);

  // new anonymousId lazily, on the next call or visit
  pub('reset', () => { user.reset(); group.reset(); return api; }, 1);
  pub('setAnonymousId', (id) => user.anonymousId(id == null ? undefined : id), 1);
  pub('ready', (f) => {
    if (isFn(f)) { if (loaded) setTimeout(safe(f), 0); else readyQ.push(safe(f)); }
    return api;
  });
  pub('user', () => userApi);
  pub('debug', (on) => { dbg = on !== false; return api; });

  // Replace the stub: its load() first, then every other call in order
  const q = Array.isArray(stub) ? stub.slice() : [];
  let li = -1;
  w.analytics = api;
  q.forEach((c, i) => {
    if (!Array.isArray(c)) return;
    if (li < 0 && c[0] === 'load') li = i;
    else { const e = c.slice(); e.t = c.t; e.id = c.id; pending.push(e); }
  });
  if (q.length) stub.length = 0; // taken: the stub saves nothing
  if (li >= 0) api.load(...q[li].slice(1));
})();
