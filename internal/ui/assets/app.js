// berth dashboard. Plain JavaScript, no build step and no library: every
// string of the cluster reaches the page through text nodes (h() below),
// never as HTML, so a name or a message cannot inject markup.
'use strict';

(() => {
  const KINDS = ['unit', 'job', 'host', 'service', 'gitsource', 'event'];
  const S = {
    session: null,
    token: sessionStorage.getItem('berth-token') || '',
    rows: Object.fromEntries(KINDS.map((k) => [k, new Map()])),
    live: false,
    stream: null, // AbortController of the stream
    detail: null, // {key, doc} of the object page shown
    logs: null, // AbortController of the logs shown
    filter: '',
    specOpen: false, // the spec's disclosure on an object's page
  };

  // ---- DOM helpers ------------------------------------------------------

  // h builds an element: attrs are attributes (on* are listeners, class is
  // className); children are nodes, strings (as text) or arrays of them.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else if (c instanceof Node) el.appendChild(c);
      else el.appendChild(document.createTextNode(String(c)));
    }
  }
  // flat lists children as nodes, without putting them anywhere.
  function flat(children, out) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) flat(c, out);
      else out.push(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return out;
  }
  const $ = (id) => document.getElementById(id);
  // Links carry a data-key so that a re-render keeps the focus on them.
  const link = (path, text, attrs) => h('a', Object.assign({ href: '#' + path, 'data-key': 'link:' + path }, attrs || {}), text);
  const objPath = (kind, name) => '/' + kind + 's/' + encodeURIComponent(name);
  const objLink = (kind, name) => link(objPath(kind, name), name);

  // ---- time -------------------------------------------------------------

  function pad(n) { return String(n).padStart(2, '0'); }
  function absTime(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function relTime(d) {
    let s = Math.round((Date.now() - d.getTime()) / 1000);
    const future = s < 0;
    s = Math.abs(s);
    let t;
    if (s < 60) t = s + 's';
    else if (s < 3600) t = Math.floor(s / 60) + 'm';
    else if (s < 86400) t = Math.floor(s / 3600) + 'h';
    else t = Math.floor(s / 86400) + 'd';
    return future ? 'in ' + t : t + ' ago';
  }
  // when shows a time relative ("3m ago") and absolute, both as text.
  function when(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    const d = new Date(iso);
    if (isNaN(d)) return h('span', {}, iso);
    return h('span', { class: 'when' },
      h('time', { datetime: iso, 'data-rel': '1' }, relTime(d)),
      h('span', { class: 'abs' }, absTime(d)));
  }
  setInterval(() => {
    for (const t of document.querySelectorAll('time[data-rel]')) {
      const d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = relTime(d);
    }
  }, 5000);

  // ---- states -----------------------------------------------------------

  const GOOD = new Set(['RUNNING', 'UP', 'passing', 'True', 'DONE', 'Normal']);
  const BAD = new Set(['FAILED', 'EXITED', 'DOWN', 'critical', 'False', 'UNKNOWN', 'Warning']);
  const BUSY = new Set(['PULLING_IMAGE', 'CREATING', 'STARTING', 'HEALTHCHECKING', 'STOPPING', 'WAITING', 'warning', 'ROLLING_OUT', 'Unknown']);
  const ICON = { ok: '✓', bad: '✗', warn: '…', none: '○', info: '•' };
  function tone(s) {
    if (GOOD.has(s)) return 'ok';
    if (BAD.has(s)) return 'bad';
    if (BUSY.has(s)) return 'warn';
    if (s === 'STOPPED') return 'none';
    return 'info';
  }
  // badge writes a state out, with an icon; colour only repeats it.
  function badge(text, t) {
    t = t || tone(text);
    return h('span', { class: 'badge ' + t, 'data-state': text }, h('span', { 'aria-hidden': 'true' }, ICON[t] + ' '), text);
  }
  function instState(i) {
    let s = i.state || '-';
    if (i.hostDown) return badge('UNKNOWN', 'bad');
    if (i.reason && ['PolicyDenied', 'EnvFileUnavailable', 'HostPathUnavailable', 'BindingRefused'].includes(i.reason)) {
      return h('span', {}, badge(s), ' (' + i.reason + ')');
    }
    return badge(s);
  }
  function readyText(i) {
    if (i.ready === 'True') return badge('Ready', 'ok');
    if (i.ready === 'False') return badge('Not ready', i.state === 'STOPPED' ? 'none' : 'warn');
    return h('span', { class: 'muted' }, '—');
  }

  // ---- session and token ------------------------------------------------

  function authHeaders(extra) {
    const hd = Object.assign({}, extra || {});
    if (S.token) hd.Authorization = 'Bearer ' + S.token;
    return hd;
  }
  function mayAct() { return S.session && S.session.mayWrite && S.session.storeWritable; }

  async function start() {
    let r;
    try {
      r = await fetch('api/session', { headers: authHeaders(), cache: 'no-store' });
    } catch (e) {
      setLive(false, 'Cannot reach the controller; retrying…');
      setTimeout(start, 2000);
      return;
    }
    if (r.status === 403) {
      const refused = S.token !== '';
      S.token = '';
      sessionStorage.removeItem('berth-token');
      showLogin(refused ? 'That token was refused.' : '');
      return;
    }
    if (!r.ok) {
      setLive(false, 'The controller is starting (' + r.status + '); retrying…');
      setTimeout(start, 1000);
      return;
    }
    S.session = await r.json();
    $('host').textContent = 'host ' + S.session.host;
    document.title = 'berth · ' + S.session.host;
    renderAuth();
    connect();
    route();
  }

  function renderAuth() {
    const el = $('auth');
    el.replaceChildren();
    if (!S.session || !S.session.tokenRequired) return;
    if (S.token) {
      el.append(h('button', { type: 'button', onclick: signOut }, 'Sign out'));
    } else {
      el.append(h('button', { type: 'button', onclick: () => showLogin('') }, 'Sign in to act'));
    }
  }
  function signOut() {
    S.token = '';
    sessionStorage.removeItem('berth-token');
    location.reload();
  }

  // showLogin replaces the page with the token prompt: nothing of the
  // cluster is shown until a token is accepted.
  function showLogin(why) {
    stopStream();
    setLive(false, 'Signed out');
    S.session = null;
    for (const m of Object.values(S.rows)) m.clear();
    const main = $('main');
    const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true });
    const form = h('form', {
      class: 'login', onsubmit: (e) => {
        e.preventDefault();
        S.token = input.value.trim();
        sessionStorage.setItem('berth-token', S.token);
        main.replaceChildren(h('p', { class: 'muted' }, 'Signing in…'));
        start();
      },
    },
    h('label', { for: 'token' }, 'API token (the controller\'s --api-token-file)'),
    input,
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
    main.replaceChildren();
    append(main, [
      h('h1', {}, 'Sign in'),
      h('p', {}, 'This controller needs its API token to show the cluster. The token stays in this tab only.'),
      why ? h('p', { class: 'error', role: 'alert' }, why) : null,
      form]);
    input.focus();
  }

  // ---- the stream -------------------------------------------------------

  function setLive(on, text) {
    S.live = on;
    const el = $('live');
    el.className = 'live ' + (on ? 'on' : 'off');
    el.textContent = text;
  }
  function stopStream() {
    if (S.stream) S.stream.abort();
    S.stream = null;
  }

  let backoff = 500;
  async function connect() {
    stopStream();
    const ctrl = new AbortController();
    S.stream = ctrl;
    try {
      const r = await fetch('api/stream', { headers: authHeaders(), signal: ctrl.signal, cache: 'no-store' });
      if (r.status === 403) { showLogin('The token is no longer accepted.'); return; }
      if (!r.ok) throw new Error('stream: ' + r.status);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of chunk.split('\n')) {
            if (line.startsWith('data: ')) receive(JSON.parse(line.slice(6)));
          }
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    if (S.stream !== ctrl) return;
    setLive(false, 'Reconnecting…');
    setTimeout(() => { if (S.stream === ctrl) connect(); }, backoff);
    backoff = Math.min(backoff * 2, 10000);
  }

  function receive(msg) {
    if (msg.type === 'snapshot') {
      for (const m of Object.values(S.rows)) m.clear();
      backoff = 500;
    }
    let touchesDetail = false;
    const d = S.detail;
    const changed = new Set();
    for (const r of msg.rows) {
      const m = S.rows[r.kind];
      if (!m) continue;
      m.set(r.name, r.row);
      changed.add(r.kind);
      if (d && ((r.kind === d.kind && r.name === d.name) || (r.kind === 'event' && r.row.kind === d.kind && r.row.name === d.name))) touchesDetail = true;
    }
    for (const r of msg.deleted) {
      const m = S.rows[r.kind];
      if (m) m.delete(r.name);
      changed.add(r.kind);
      if (d && r.kind === d.kind && r.name === d.name) touchesDetail = true;
    }
    S.updated = new Date();
    setLive(true, 'Live · ' + S.rows.unit.size + ' units, ' + S.rows.host.size + ' hosts');
    if (touchesDetail) refetchDetail();
    // A page is drawn again only when what it shows changed: heartbeats
    // do not redraw the units table.
    const page = PAGES[current.section];
    const deps = page && page.deps ? page.deps(current.name) : null;
    if (msg.type === 'snapshot' || !deps || deps.some((k) => changed.has(k))) schedule();
  }

  // Renders are coalesced: at most one per animation frame.
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; update(); });
  }

  // ---- routing ----------------------------------------------------------

  let current = { section: '', name: null };
  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    const section = parts[0] || '';
    const name = parts.length > 1 && parts[1] !== '' ? decodeURIComponent(parts.slice(1).join('/')) : null;
    return { section, name };
  }

  function route() {
    if (!S.session) return;
    current = parseRoute();
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.section === current.section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    stopLogs();
    tables.clear();
    S.detail = null;
    S.filter = '';
    const main = $('main');
    const page = PAGES[current.section];
    if (!page) {
      main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', link('/', 'Overview')));
      return;
    }
    const kind = DETAIL_KIND[current.section];
    if (current.name !== null && kind) {
      S.detail = { kind, name: current.name, doc: null };
      refetchDetail(true);
    }
    main.replaceChildren();
    append(main, page.frame(current.name));
    update();
    main.focus({ preventScroll: true });
  }
  window.addEventListener('hashchange', route);

  // update re-renders the live part of the page, keeping the focus on the
  // element (by data-key) that had it.
  function update() {
    const box = $('content');
    if (!box || !S.session) return;
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.key : null;
    const page = PAGES[current.section];
    const nodes = flat([page.content(current.name)], []);
    const cur = box.childNodes;
    if (cur.length !== nodes.length || nodes.some((n, i) => cur[i] !== n)) box.replaceChildren(...nodes);
    if (key) {
      const again = box.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  }

  // frame is a list page's fixed part: its title and filter box.
  function listFrame(title, what) {
    const filter = h('input', {
      type: 'search', id: 'filter', placeholder: 'name, host or state', 'aria-describedby': 'filter-help',
      oninput: (e) => { S.filter = e.target.value.trim().toLowerCase(); update(); },
    });
    return [
      h('h1', {}, title),
      h('div', { class: 'controls' },
        h('label', { for: 'filter' }, 'Filter ' + what), filter,
        h('span', { id: 'filter-help', class: 'sr-only' }, 'The table below shows only the rows that contain this text.')),
      h('div', { id: 'content' }),
    ];
  }
  function detailFrame() { return [h('div', { id: 'content' })]; }
  function matches(...texts) {
    if (!S.filter) return true;
    return texts.some((t) => t && String(t).toLowerCase().includes(S.filter));
  }
  function sorted(map) { return [...map.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); }

  // table builds an accessible table: a caption, column headers, rows.
  // The table of a caption is kept across redraws, and only the rows that
  // changed place are moved: a redraw of 1,000 unchanged rows touches no
  // element.
  const tables = new Map();
  function table(caption, headers, rows, empty) {
    if (rows.length === 0) {
      tables.delete(caption);
      return h('p', { class: 'muted' }, empty || 'Nothing to show.');
    }
    let t = tables.get(caption);
    if (!t) {
      const tbody = h('tbody');
      const wrap = h('div', { class: 'table-wrap' }, h('table', {},
        h('caption', {}, caption),
        h('thead', {}, h('tr', {}, headers.map((c) => {
          const [text, cls] = Array.isArray(c) ? c : [c, null];
          return h('th', { scope: 'col', class: cls }, text);
        }))),
        tbody));
      t = { wrap, tbody };
      tables.set(caption, t);
    }
    const kids = t.tbody.children;
    rows.forEach((tr, i) => {
      if (kids[i] !== tr) t.tbody.insertBefore(tr, kids[i] || null);
    });
    while (kids.length > rows.length) kids[kids.length - 1].remove();
    return t.wrap;
  }
  const td = (cls, ...c) => h('td', cls ? { class: cls } : {}, ...c);
  // A table row is built once per version of its data: the stream replaces
  // the object of a row that changed, so a redraw of 1,000 rows rebuilds
  // only those and moves the others.
  const built = new WeakMap();
  function cached(row, build) {
    let tr = built.get(row);
    if (!tr) {
      tr = build(row);
      built.set(row, tr);
    }
    return tr;
  }
  const list = (l) => (l && l.length ? l.join(', ') : '—');
  const labelsText = (m) => (m && Object.keys(m).length ? Object.keys(m).sort().map((k) => k + '=' + m[k]).join(', ') : '—');
  function bytes(n) {
    if (!n) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + ' ' + u[i];
  }

  // ---- pages ------------------------------------------------------------

  const DETAIL_KIND = { hosts: 'host', units: 'unit', jobs: 'job', services: 'service', gitsources: 'gitsource' };

  function unitSummary(u) {
    const n = u.instances.length;
    const ready = u.instances.filter((i) => i.ready === 'True').length;
    return { n, ready, restarts: u.instances.reduce((s, i) => s + i.restarts, 0) };
  }
  function serviceTone(s) {
    if (s.critical > 0) return 'critical';
    if (s.warning > 0) return 'warning';
    if (s.endpoints.length === 0) return 'no endpoints';
    return 'passing';
  }
  function serviceBadge(s) {
    const t = serviceTone(s);
    return badge(t, t === 'critical' ? 'bad' : t === 'warning' ? 'warn' : t === 'passing' ? 'ok' : 'none');
  }
  function eventsNewest() {
    return [...S.rows.event.values()]
      .sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
  }

  const PAGES = {
    '': {
      frame: () => [h('h1', {}, 'Overview'), h('div', { id: 'content' })],
      content: overview,
    },
    hosts: {
      deps: () => ['host'],
      frame: (name) => (name === null ? listFrame('Hosts', 'hosts') : detailFrame()),
      content: (name) => (name === null ? hostsList() : hostDetail(name)),
    },
    units: {
      deps: () => ['unit'],
      frame: (name) => (name === null ? listFrame('Units', 'units') : detailFrame()),
      content: (name) => (name === null ? unitsList() : unitDetail(name)),
    },
    jobs: {
      deps: () => ['job'],
      frame: (name) => (name === null ? listFrame('Jobs', 'jobs') : detailFrame()),
      content: (name) => (name === null ? jobsList() : jobDetail(name)),
    },
    services: {
      deps: () => ['service'],
      frame: (name) => (name === null ? listFrame('Services', 'services') : detailFrame()),
      content: (name) => (name === null ? servicesList() : serviceDetail(name)),
    },
    events: {
      deps: () => ['event'],
      frame: () => listFrame('Events', 'events'),
      content: eventsList,
    },
    gitsources: {
      deps: () => ['gitsource'],
      frame: (name) => (name === null ? listFrame('GitSources', 'GitSources') : detailFrame()),
      content: (name) => (name === null ? gitSourcesList() : gitSourceDetail(name)),
    },
  };

  function overview() {
    const hosts = sorted(S.rows.host);
    const down = hosts.filter((x) => !x.up);
    const units = sorted(S.rows.unit);
    const byState = new Map();
    const notReady = [];
    for (const u of units) {
      for (const i of u.instances) {
        const s = i.hostDown ? 'UNKNOWN' : i.state;
        byState.set(s, (byState.get(s) || 0) + 1);
      }
      if (u.goal === 'start' && u.instances.some((i) => i.ready !== 'True')) notReady.push(u);
    }
    const failing = [];
    for (const s of sorted(S.rows.service)) {
      for (const e of s.endpoints) {
        if (e.status !== 'passing') failing.push({ s, e });
      }
    }
    const rollouts = sorted(S.rows.job).filter((j) => j.rollout && j.rollout.state !== 'DONE');
    const gits = sorted(S.rows.gitsource).filter((g) => g.ready !== 'True');
    const warnings = eventsNewest().filter((e) => e.type === 'Warning').slice(0, 10);

    const card = (title, ...body) => h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...body);
    return h('div', { class: 'cards' },
      card('Hosts',
        h('p', {}, h('span', { class: 'big' }, String(hosts.length - down.length)), ' up, ',
          h('span', { class: 'big' }, String(down.length)), ' down'),
        down.length ? h('ul', { class: 'plain' }, down.map((x) => h('li', {}, badge('DOWN'), ' ', objLink('host', x.name)))) : null),
      card('Units',
        h('p', {}, h('span', { class: 'big' }, String(units.length)), ' units'),
        byState.size ? h('ul', { class: 'plain' }, [...byState.entries()].sort().map(([s, n]) => h('li', {}, badge(s), ' ' + n))) : h('p', { class: 'muted' }, 'No instances.'),
        notReady.length ? [h('h3', {}, 'Not ready'), h('ul', { class: 'plain' }, notReady.slice(0, 20).map((u) => h('li', {}, objLink('unit', u.name))))] : null),
      card('Failing checks',
        failing.length ? h('ul', { class: 'plain' }, failing.slice(0, 20).map(({ s, e }) => h('li', {},
          badge(e.status), ' ', objLink('service', s.name), ' on ' + e.host,
          e.checks && e.checks.length ? h('div', { class: 'muted msg' }, e.checks.filter((c) => c.status !== 'passing').map((c) => c.name + ': ' + (c.output || c.status)).join('; ')) : null)))
          : h('p', {}, badge('passing'), ' Every check passes.')),
      card('Rollouts in progress',
        rollouts.length ? h('ul', { class: 'plain' }, rollouts.map((j) => h('li', {}, objLink('job', j.name), ' ', badge(j.rollout.state),
          ' ' + rolloutText(j.rollout))))
          : h('p', { class: 'muted' }, 'None.')),
      card('GitSources not ready',
        gits.length ? h('ul', { class: 'plain' }, gits.map((g) => h('li', {}, badge(g.ready), ' ', objLink('gitsource', g.name), g.lastError ? h('div', { class: 'msg' }, g.lastError) : (g.message ? h('div', { class: 'muted' }, g.message) : null))))
          : h('p', { class: 'muted' }, S.rows.gitsource.size ? 'Every GitSource is ready.' : 'No GitSources.')),
      card('Recent warnings',
        warnings.length ? h('ul', { class: 'plain' }, warnings.map((e) => h('li', {}, when(e.last), ' ', objLink(e.kind, e.name), ' ', h('strong', {}, e.reason), ': ', e.message)))
          : h('p', { class: 'muted' }, 'None in the last hour.')));
  }

  function hostsList() {
    const rows = sorted(S.rows.host).filter((x) => matches(x.name, x.up ? 'UP' : 'DOWN', labelsText(x.labels))).map((x) => cached(x, () => h('tr', { 'data-kind': 'host', 'data-name': x.name, class: x.up ? '' : 'bad' },
      td(null, objLink('host', x.name), x.thisDashboard ? h('span', { class: 'muted' }, ' (this one)') : null),
      td(null, badge(x.up ? 'UP' : 'DOWN')),
      td('num', String(x.deployed)), td('num', String(x.running)), td('num hide-narrow', String(x.cpus)),
      td('hide-narrow', bytes(x.memoryBytes)),
      td('hide-narrow', x.memoryBytes ? Math.round(100 * x.memoryUsed / x.memoryBytes) + '%' : '—'),
      td('hide-narrow', x.load.map((l) => l.toFixed(2)).join(' ')),
      td('hide-narrow', x.os || '—'), td('hide-narrow', x.berth || '—'), td('hide-narrow', x.docker || '—'),
      td(null, labelsText(x.labels)), td(null, when(x.heartbeat)))));
    return table('Hosts, as applyctl get hosts shows them', ['Host', 'Status', ['Deployed', 'num'], ['Running', 'num'], ['CPUs', 'num hide-narrow'], ['Memory', 'hide-narrow'], ['Mem usage', 'hide-narrow'], ['Load', 'hide-narrow'], ['OS', 'hide-narrow'], ['berth', 'hide-narrow'], ['Docker', 'hide-narrow'], 'Labels', 'Heartbeat'], rows, 'No host has joined.');
  }

  function unitTr(u) {
    const sum = unitSummary(u);
    const bad = u.instances.some((i) => i.hostDown || ['FAILED', 'EXITED'].includes(i.state));
    const msg = u.instances.map((i) => i.message).find((m) => m) || '';
    return h('tr', { 'data-kind': 'unit', 'data-name': u.name, class: bad ? 'bad' : '' },
      td(null, objLink('unit', u.name)),
      td(null, u.goal),
      td(null, u.instances.length ? u.instances.map((i) => h('div', { 'data-host': i.host }, i.host + ' ', instState(i))) : h('span', { class: 'muted' }, 'not placed')),
      td(null, sum.n ? `${sum.ready}/${sum.n}` : '—'),
      td('num', String(sum.restarts)),
      td('msg', msg));
  }
  function unitsList() {
    const rows = [];
    for (const u of sorted(S.rows.unit)) {
      if (!matches(u.name, u.goal, ...u.instances.map((i) => i.host + ' ' + (i.hostDown ? 'UNKNOWN' : i.state)))) continue;
      rows.push(cached(u, unitTr));
    }
    return table('Units and the state of their instances on each host', ['Unit', 'Goal', 'State per host', 'Ready', ['Restarts', 'num'], 'Message'], rows, S.filter ? 'No unit matches.' : 'No units: applyctl apply -f FILE adds some.');
  }

  // rolloutText says how far a rollout is: "to 2: 1 of 3 hosts".
  function rolloutText(r) {
    const done = (r.done || []).length;
    const total = done + (r.current || []).length + (r.pending || []).length + (r.failed || []).length;
    return `to ${r.version}: ${done} of ${total} hosts`;
  }
  // versionsText says how many hosts run each version: "1 on 2, 2 on 1".
  function versionsText(v) {
    return v && Object.keys(v).length ? Object.keys(v).sort().map((k) => k + ' on ' + v[k]).join(', ') : '—';
  }
  function jobsList() {
    const rows = sorted(S.rows.job).filter((j) => matches(j.name, j.version, ...j.instances.map((i) => i.host + ' ' + i.state))).map((j) => cached(j, () => h('tr', { 'data-kind': 'job', 'data-name': j.name },
      td(null, objLink('job', j.name)), td(null, j.version), td('hide-narrow', h('code', {}, j.id)),
      td(null, j.instances.length ? j.instances.map((i) => h('div', { 'data-host': i.host }, i.host + ' ', instState(i), i.version ? ' v' + i.version : '')) : h('span', { class: 'muted' }, 'not deployed')),
      td(null, versionsText(j.versions)),
      td(null, j.rollout ? [badge(j.rollout.state), ' ' + rolloutText(j.rollout)] : '—'))));
    return table('Jobs, their instances per host and rollouts', ['Job', 'Version', ['Job id', 'hide-narrow'], 'State per host', 'Hosts per version', 'Rollout'], rows, 'No jobs.');
  }

  function servicesList() {
    const rows = sorted(S.rows.service).filter((s) => matches(s.name, serviceTone(s), ...(s.tags || []))).map((s) => cached(s, () => h('tr', { 'data-kind': 'service', 'data-name': s.name, class: s.critical ? 'bad' : s.warning ? 'warn' : '' },
      td(null, objLink('service', s.name)), td(null, serviceBadge(s)),
      td('num', String(s.endpoints.length)), td('num', String(s.passing)), td('num', String(s.warning)), td('num', String(s.critical)),
      td(null, list(s.tags)), td('hide-narrow', s.defined ? 'Service object' : 'registered only'))));
    return table('Services and the health of their endpoints', ['Service', 'Health', ['Endpoints', 'num'], ['Passing', 'num'], ['Warning', 'num'], ['Critical', 'num'], 'Tags', ['Defined by', 'hide-narrow']], rows, 'No services.');
  }

  function eventRows(events) {
    return events.map((e) => cached(e, () => h('tr', { class: e.type === 'Warning' ? 'warn' : '' },
      td(null, when(e.last)), td(null, badge(e.type, e.type === 'Warning' ? 'warn' : 'info')),
      td(null, e.kind === 'unit' || e.kind === 'job' || e.kind === 'gitsource' ? link(objPath(e.kind, e.name), e.kind + '/' + e.name) : e.kind + '/' + e.name),
      td(null, e.reason), td('msg', e.message), td(null, e.host || '—'), td('num', String(e.count)))));
  }
  const EVENT_HEAD = ['Last seen', 'Type', 'Object', 'Reason', 'Message', 'Host', ['Count', 'num']];
  function eventsList() {
    const evs = eventsNewest().filter((e) => matches(e.kind + '/' + e.name, e.reason, e.message, e.type, e.host));
    return table('Events of the last hour, newest first', EVENT_HEAD, eventRows(evs), 'No events.');
  }

  function gitSourcesList() {
    const rows = sorted(S.rows.gitsource).filter((g) => matches(g.name, g.url, g.ready)).map((g) => h('tr', { 'data-kind': 'gitsource', 'data-name': g.name, class: g.ready === 'False' ? 'bad' : '' },
      td(null, objLink('gitsource', g.name)), td(null, badge(g.ready), g.reason ? ' ' + g.reason : ''),
      td('msg', g.url), td(null, g.ref), td(null, g.path), td('hide-narrow', h('code', {}, g.revision || '—')),
      td('msg', g.lastError || '—'), td(null, when(g.lastSync))));
    return table('GitSources: what the leader last applied', ['GitSource', 'Ready', 'URL', 'Ref', 'Path', ['Revision', 'hide-narrow'], 'Last error', 'Last sync'], rows, 'No GitSources.');
  }

  // ---- object pages -----------------------------------------------------

  let refetchTimer = null;
  function refetchDetail(now) {
    const d = S.detail;
    if (!d) return;
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(async () => {
      try {
        const r = await fetch('api/object/' + d.kind + '/' + encodeURIComponent(d.name), { headers: authHeaders(), cache: 'no-store' });
        if (S.detail !== d) return;
        d.doc = r.ok ? await r.json() : { missing: r.status === 404, error: (await r.json().catch(() => ({}))).error };
        schedule();
      } catch (e) { /* the stream's reconnection brings it back */ }
    }, now ? 0 : 300);
  }

  function missing(kind, name) {
    return [h('h1', {}, kind + '/' + name), h('p', {}, 'There is no ' + kind + ' of that name (any more). ', link('/' + kind + 's', 'All ' + kind + 's'))];
  }
  function fields(pairs) {
    return h('dl', { class: 'fields' }, pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }
  function depLinks(names) { return names && names.length ? names.map((n, i) => [i ? ', ' : '', objLink('unit', n)]) : '—'; }
  function specSection() {
    const d = S.detail && S.detail.doc;
    if (!d || !d.yaml) return null;
    // Open or closed as the reader left it: a redraw keeps it.
    return h('details', { open: S.specOpen, ontoggle: (e) => { S.specOpen = e.target.open; } },
      h('summary', { 'data-key': 'spec' }, 'Spec and status as stored (YAML)'),
      d.redacted ? h('p', { class: 'muted' }, 'Values of environment variables and check headers are hidden: they are shown to requests that carry the API token.') : null,
      h('pre', {}, d.yaml));
  }
  function eventsSection() {
    const d = S.detail && S.detail.doc;
    const evs = d && d.events ? d.events : [];
    return [h('h2', {}, 'Events'), table('Events of this object, newest first', EVENT_HEAD, eventRows(evs), d ? 'No events in the last hour.' : 'Loading…')];
  }

  // command shows the applyctl command of an action, to copy.
  function command(cmd) {
    return h('div', { class: 'cmd' }, h('code', {}, cmd),
      h('button', { type: 'button', 'data-key': 'copy:' + cmd, 'aria-label': 'Copy ' + cmd, onclick: () => copy(cmd) }, 'Copy'));
  }
  function copy(text) {
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => notify('Copied: ' + text), () => notify('Copy it by hand: ' + text));
    else notify('Copy it by hand: ' + text);
  }
  function actionsNote() {
    if (mayAct()) return null;
    let why;
    if (!S.session.storeWritable) why = S.session.storeWhy || 'This controller may not write objects.';
    else if (S.session.tokenRequired) why = 'Actions need the API token: sign in, or run these commands.';
    else why = 'Actions are offered on a loopback address of this host only; run these commands instead.';
    return h('p', { class: 'muted' }, why);
  }

  // act asks for confirmation, then posts the action and says what it did.
  async function act(what, cmd, url, body) {
    const dlg = $('confirm');
    $('confirm-title').textContent = what + '?';
    $('confirm-text').textContent = 'This changes what the cluster runs: ' + what + '.';
    $('confirm-cmd').textContent = cmd;
    dlg.returnValue = '';
    const answer = await new Promise((resolve) => {
      dlg.addEventListener('close', () => resolve(dlg.returnValue), { once: true });
      dlg.showModal();
      $('confirm-cancel').focus();
    });
    if (answer !== 'ok') return;
    try {
      const r = await fetch(url, { method: 'POST', headers: authHeaders({ 'Content-Type': 'application/json' }), body: JSON.stringify(body || {}) });
      const doc = await r.json().catch(() => ({ error: 'HTTP ' + r.status }));
      if (!r.ok) { notify(doc.error || ('HTTP ' + r.status), true); return; }
      notify([...(doc.lines || []), ...(doc.errors || [])].join('\n') || 'Done');
    } catch (e) {
      notify('The controller did not answer: ' + e.message, true);
    }
  }
  function notify(text, bad) {
    const n = h('div', { class: bad ? 'bad' : '', role: bad ? 'alert' : null }, text.split('\n').map((l, i) => [i ? h('br') : null, l]));
    $('notice').append(n);
    setTimeout(() => n.remove(), 8000);
  }
  function actionButton(label, what, cmd, url, body, cls) {
    return h('button', { type: 'button', class: cls || '', 'data-key': 'act:' + cmd, 'data-action': label.toLowerCase(), 'aria-label': what, onclick: () => act(what, cmd, url, body) }, label);
  }

  function unitActions(u) {
    const verbs = [['Start', 'start'], ['Stop', 'stop'], ['Restart', 'restart']];
    const url = (v) => 'api/unit/' + encodeURIComponent(u.name) + '/' + v;
    if (mayAct()) {
      return h('div', { class: 'actions' }, verbs.map(([label, v]) => actionButton(label, label + ' unit ' + u.name, 'applyctl ' + v + ' unit ' + u.name, url(v), {}, v === 'stop' ? 'danger' : '')));
    }
    return [actionsNote(), verbs.map(([, v]) => command('applyctl ' + v + ' unit ' + u.name))];
  }

  function instancesTable(obj, kind) {
    const rows = obj.instances.map((i) => h('tr', { 'data-host': i.host, class: i.hostDown || ['FAILED', 'EXITED'].includes(i.state) ? 'bad' : '' },
      td(null, objLink('host', i.host)), td(null, instState(i)), td(null, readyText(i)),
      kind === 'job' ? td(null, i.version || '—') : null,
      td('num', String(i.restarts)), td(null, when(i.since)), td('hide-narrow', h('code', {}, i.container || '—')),
      td('hide-narrow', i.ports || '—'), td('num', i.lastExitCode === undefined || i.lastExitCode === null ? '—' : String(i.lastExitCode)),
      td('msg', [i.message, i.readyMessage && i.readyMessage !== i.message ? (i.message ? ' · ' : '') + i.readyMessage : ''].join(''))));
    const head = ['Host', 'State', 'Ready', kind === 'job' ? 'Version' : null, ['Restarts', 'num'], 'Since', ['Container', 'hide-narrow'], ['Ports', 'hide-narrow'], ['Last exit', 'num'], 'Message'].filter((c) => c);
    return table('Instances of ' + kind + '/' + obj.name + ' on each host', head, rows, kind === 'job' ? 'Not running anywhere.' : 'Not placed on any host yet.');
  }

  // logsSection streams this host's container's output; for an instance
  // on another host, it links to that host's dashboard.
  function logsSection(kind, obj) {
    const here = obj.instances.find((i) => i.host === S.session.host);
    const elsewhere = obj.instances.filter((i) => i.host !== S.session.host);
    const out = [h('h2', {}, 'Logs')];
    if (here) {
      const shown = S.logs && S.logs.key === kind + '/' + obj.name;
      out.push(h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-key': 'logs', 'aria-expanded': shown ? 'true' : 'false', 'aria-controls': 'logs', onclick: () => (shown ? stopLogs() : startLogs(kind, obj.name)) },
          shown ? 'Stop following' : 'Follow the logs on ' + S.session.host)));
      if (shown) out.push(S.logs.pre);
    }
    for (const i of elsewhere) {
      const hr = S.rows.host.get(i.host);
      out.push(h('p', {}, 'On ' + i.host + ': ', hr && hr.http
        ? h('a', { href: hr.http + '/ui/#' + objPath(kind, obj.name) }, 'its dashboard shows them')
        : 'that host gives no address', ' (or applyctl logs ' + kind + '/' + obj.name + ' --host ' + i.host + ')'));
    }
    if (!here && !elsewhere.length) out.push(h('p', { class: 'muted' }, 'No container to show the logs of.'));
    return out;
  }
  function stopLogs() {
    if (S.logs) S.logs.ctrl.abort();
    S.logs = null;
  }
  async function startLogs(kind, name) {
    stopLogs();
    const ctrl = new AbortController();
    const pre = h('pre', { class: 'log', id: 'logs', role: 'log', 'aria-label': 'Logs of ' + kind + '/' + name, tabindex: '0' });
    S.logs = { key: kind + '/' + name, ctrl, pre };
    update();
    try {
      const r = await fetch('/v1/logs/' + kind + '/' + encodeURIComponent(name) + '?follow=true&tail=200&timestamps=true',
        { headers: authHeaders({ 'X-Berth-Host': S.session.host }), signal: ctrl.signal });
      if (!r.ok) {
        pre.textContent = (await r.text()) + (r.status === 403 ? '\nLogs need the API token: sign in.' : '');
        return;
      }
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(value);
        if (pre.textContent.length > 200000) pre.textContent = pre.textContent.slice(-150000);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      pre.append('\n— the container stopped, or its logs ended —\n');
    } catch (e) {
      if (!ctrl.signal.aborted) pre.append('\n— ' + e.message + ' —\n');
    }
  }

  function unitDetail(name) {
    const u = S.rows.unit.get(name);
    if (!u) return S.detail && S.detail.doc && S.detail.doc.missing ? missing('unit', name) : h('p', { class: 'muted' }, 'Loading…');
    return [
      h('h1', {}, 'unit/' + u.name),
      u.description ? h('p', {}, u.description) : null,
      fields([['Goal', u.goal], ['Image', h('code', {}, u.image)], ['Placement', u.placement], ['Generation', String(u.generation)],
        ['Requires', depLinks(u.requires)], ['Wants', depLinks(u.wants)], ['After', depLinks(u.after)], ['Labels', labelsText(u.labels)],
        ['Created', when(u.created)]]),
      h('h2', {}, 'Actions'), unitActions(u),
      h('h2', {}, 'Instances'), instancesTable(u, 'unit'),
      logsSection('unit', u),
      eventsSection(),
      h('h2', {}, 'Spec'), specSection(),
    ];
  }

  function jobDetail(name) {
    const j = S.rows.job.get(name);
    if (!j) return S.detail && S.detail.doc && S.detail.doc.missing ? missing('job', name) : h('p', { class: 'muted' }, 'Loading…');
    const deployed = new Map((j.deployments || []).map((d) => [d.host, d.goal || 'start']));
    const jurl = (v) => 'api/job/' + encodeURIComponent(j.name) + '/' + v;
    const drows = [...deployed.entries()].map(([host, goal]) => {
      const acts = [];
      for (const [label, v] of goal === 'stop' ? [['Start', 'start'], ['Undeploy', 'undeploy']] : [['Stop', 'stop'], ['Undeploy', 'undeploy']]) {
        const cmd = v === 'undeploy' ? `applyctl undeploy ${j.name} ${host}` : `applyctl ${v} job ${j.name} ${host}`;
        acts.push(mayAct() ? actionButton(label, label + ' job ' + j.name + ' on ' + host, cmd, jurl(v), { host }, v === 'start' ? '' : 'danger') : command(cmd));
      }
      return h('tr', { 'data-host': host }, td(null, objLink('host', host)), td(null, goal), td(null, h('div', { class: 'actions' }, acts)));
    });
    const candidates = sorted(S.rows.host).filter((x) => !deployed.has(x.name));
    let deploy = null;
    if (candidates.length) {
      const sel = h('select', { id: 'deploy-host', 'data-key': 'deploy-host' }, candidates.map((x) => h('option', { value: x.name }, x.name + (x.up ? '' : ' (down)'))));
      deploy = mayAct()
        ? h('div', { class: 'actions' }, h('label', { for: 'deploy-host' }, 'Deploy to host'), sel,
          h('button', { type: 'button', 'data-key': 'deploy', onclick: () => act('Deploy job ' + j.name + ' to ' + sel.value, `applyctl deploy ${j.name} ${sel.value}`, jurl('deploy'), { host: sel.value }) }, 'Deploy'))
        : command(`applyctl deploy ${j.name} HOST`);
    }
    const r = j.rollout;
    return [
      h('h1', {}, 'job/' + j.name),
      fields([['Version', j.version], ['Job id', h('code', {}, j.id)], ['Image', h('code', {}, j.image)], ['Generation', String(j.generation)],
        ['Host selector', j.selector || '—'], ['Labels', labelsText(j.labels)], ['Created', when(j.created)]]),
      h('h2', {}, 'Rollout'),
      r ? fields([['State', badge(r.state)], ['Version', r.version + (r.from ? ' (from ' + r.from + ')' : '')],
        ['Done', list(r.done)], ['Moving', list(r.current)], ['Pending', list(r.pending)], ['Failed', list(r.failed)],
        r.message ? ['Message', r.message] : null, ['Started', when(r.startedAt)]]) : h('p', { class: 'muted' }, 'No rollout yet.'),
      j.versions ? h('p', {}, 'Hosts per version: ' + versionsText(j.versions)) : null,
      h('h2', {}, 'Deployments'), actionsNote(),
      table('Hosts job/' + j.name + ' is deployed to', ['Host', 'Goal', 'Actions'], drows, 'Deployed to no host by name' + (j.selector ? ' (its hostSelector places it).' : '.')),
      deploy,
      h('h2', {}, 'Instances'), instancesTable(j, 'job'),
      logsSection('job', j),
      eventsSection(),
      h('h2', {}, 'Spec'), specSection(),
    ];
  }

  function hostDetail(name) {
    const x = S.rows.host.get(name);
    if (!x) return S.detail && S.detail.doc && S.detail.doc.missing ? missing('host', name) : h('p', { class: 'muted' }, 'Loading…');
    const rows = x.instances.map((i) => h('tr', {}, td(null, i.kind), td(null, link(objPath(i.kind, i.name), i.name)), td(null, x.up ? badge(i.state) : badge('UNKNOWN', 'bad'))));
    return [
      h('h1', {}, 'host/' + x.name),
      fields([['Status', badge(x.up ? 'UP' : 'DOWN')], ['Addresses', list(x.addresses)],
        ['Dashboard', x.http ? (x.thisDashboard ? 'this one' : h('a', { href: x.http + '/ui/' }, x.http + '/ui/')) : '—'],
        ['CPUs', String(x.cpus)], ['Memory', bytes(x.memoryBytes) + (x.memoryBytes ? ' (' + Math.round(100 * x.memoryUsed / x.memoryBytes) + '% used)' : '')],
        ['Load', x.load.map((l) => l.toFixed(2)).join(' ')], ['OS', x.os || '—'], ['berth', x.berth || '—'], ['Docker', x.docker || '—'],
        ['Labels', labelsText(x.labels)], ['Started', when(x.startedAt)], ['Heartbeat', when(x.heartbeat)]]),
      h('h2', {}, 'What runs here'),
      table('Instances host ' + x.name + ' reports', ['Kind', 'Name', 'State'], rows, 'Nothing.'),
      eventsSection(),
    ];
  }

  function serviceDetail(name) {
    const s = S.rows.service.get(name);
    if (!s) return S.detail && S.detail.doc && S.detail.doc.missing ? missing('service', name) : h('p', { class: 'muted' }, 'Loading…');
    const rows = [];
    for (const e of s.endpoints) {
      rows.push(h('tr', { 'data-endpoint': e.id, class: e.status === 'critical' ? 'bad' : e.status === 'warning' ? 'warn' : '' },
        td(null, badge(e.status)), td(null, objLink('host', e.host)), td('nowrap', h('code', {}, e.address + ':' + e.port)),
        td(null, e.owner ? link(objPath(e.owner.split('/')[0], e.owner.split('/')[1]), e.owner) : e.source),
        td('msg', e.checks && e.checks.length ? h('ul', { class: 'plain' }, e.checks.map((c) => h('li', {}, badge(c.status), ' ' + c.name + ' (' + c.type + ')',
          c.output ? h('pre', {}, c.output) : null))) : h('span', { class: 'muted' }, 'no checks: passing')),
        td('hide-narrow', h('code', {}, e.id))));
    }
    return [
      h('h1', {}, 'service/' + s.name),
      fields([['Health', serviceBadge(s)], ['Endpoints', `${s.endpoints.length} (${s.passing} passing, ${s.warning} warning, ${s.critical} critical)`],
        ['Tags', list(s.tags)], ['Selector', s.selector || '—'], ['Port', s.port || '—'], ['Defined by', s.defined ? 'a Service object' : 'registrations only']]),
      h('h2', {}, 'Endpoints'),
      table('Endpoints of service ' + s.name + ' and their checks', ['Status', 'Host', 'Address', 'Of', 'Checks and their output', ['Id', 'hide-narrow']], rows, 'No endpoints: nothing registered serves it.'),
      h('h2', {}, 'Spec'), specSection(),
    ];
  }

  function gitSourceDetail(name) {
    const g = S.rows.gitsource.get(name);
    if (!g) return S.detail && S.detail.doc && S.detail.doc.missing ? missing('gitsource', name) : h('p', { class: 'muted' }, 'Loading…');
    return [
      h('h1', {}, 'gitsource/' + g.name),
      fields([['Ready', [badge(g.ready), g.reason ? ' ' + g.reason : '']], ['Message', g.message || '—'], ['URL', g.url], ['Ref', g.ref], ['Path', g.path],
        ['Suspended', g.suspend ? 'yes' : 'no'], ['Applied revision', h('code', {}, g.revision || '—')], ['Attempted revision', h('code', {}, g.attempted || '—')],
        ['Last error', g.lastError || '—'], ['Last sync', when(g.lastSync)]]),
      eventsSection(),
      h('h2', {}, 'Spec'), specSection(),
    ];
  }

  start();
})();
