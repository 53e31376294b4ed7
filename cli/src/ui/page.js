// weft's history browser. Plain JS, no dependencies: the graph is drawn on a canvas, only the
// rows in view, from a lane layout computed once per load of /api/graph.
'use strict';

const $ = (id) => document.getElementById(id);
const HEADER = 'bafyr4i';

const S = {
  g: null,          // /api/graph
  n: 0,
  lane: null,       // lane of each row
  lanes: 1,
  edges: null,      // {child, parent, lane} as typed arrays
  nEdges: 0,
  merge: null,      // rows with several parents
  voids: new Set(),
  rowH: 22,
  selected: -1,
  at: null,         // the state view's point: a CID, or null for now
  info: null,
  liveEvents: 0,
};

// ----- helpers -----

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: r.status + ' ' + r.statusText }; }
  if (!r.ok) throw new Error(body && body.error ? body.error : r.statusText);
  return body;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}

function showError(e) {
  $('error').textContent = e ? String(e.message || e) : '';
}

const short = (cid) => cid ? cid.slice(0, HEADER.length + 12) : '';
const json = (v) => JSON.stringify(v);
const timeText = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function authorColor(a) {
  const hue = (a * 137.508 + 210) % 360;
  return `hsl(${hue}, 62%, 44%)`;
}

function authorLabel(hex) {
  const g = S.g;
  if (g) {
    const i = g.authors.indexOf(hex);
    if (i >= 0 && g.names[i]) return g.names[i];
  }
  return hex.slice(0, 8);
}

// ----- layout: lanes, newest first (every change before its parents) -----

function layout(g) {
  const n = g.cids.length;
  const lane = new Int32Array(n);
  const active = [];            // active[l]: the row the lane waits for, or -1
  const awaited = new Map();    // row -> lane that waits for it
  let nEdges = 0;
  for (const ps of g.parents) nEdges += ps.length;
  const ec = new Int32Array(nEdges), ep = new Int32Array(nEdges), el_ = new Int32Array(nEdges);
  let e = 0, lanes = 1;
  const free = () => {
    const l = active.indexOf(-1);
    if (l >= 0) return l;
    active.push(-1);
    return active.length - 1;
  };
  for (let i = 0; i < n; i++) {
    let mine = -1;
    for (let l = 0; l < active.length; l++) {
      if (active[l] === i) {
        if (mine < 0) mine = l;
        active[l] = -1;
      }
    }
    awaited.delete(i);
    if (mine < 0) mine = free();
    lane[i] = mine;
    const ps = g.parents[i];
    for (let k = 0; k < ps.length; k++) {
      const p = ps[k];
      let travel;
      if (awaited.has(p)) {
        travel = awaited.get(p);
      } else if (k === 0) {
        travel = mine;
        active[mine] = p;
        awaited.set(p, mine);
      } else {
        travel = free();
        active[travel] = p;
        awaited.set(p, travel);
      }
      ec[e] = i; ep[e] = p; el_[e] = travel; e++;
    }
    lanes = Math.max(lanes, active.length);
  }
  S.lane = lane;
  S.lanes = lanes;
  S.edges = { child: ec, parent: ep, lane: el_ };
  S.nEdges = e;
  S.voids = new Set(g.void);
}

// ----- drawing -----

const canvas = $('graph');
const scroller = $('graph-scroll');
const spacer = $('graph-spacer');
const ctx2d = canvas.getContext('2d');
let drawQueued = false;

function laneW() { return Math.max(8, Math.min(16, S.rowH * 0.7)); }
function laneX(l) { return 12 + l * laneW(); }
function textX() { return laneX(Math.min(S.lanes, 24)) + 8; }

function resize() {
  const w = scroller.clientWidth, h = scroller.clientHeight;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = w + 'px';
  canvas.style.height = h + 'px';
  ctx2d.setTransform(dpr, 0, 0, dpr, 0, 0);
  spacer.style.height = Math.max(0, S.n * S.rowH + S.rowH - h) + 'px';
  queueDraw();
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; draw(); });
}

function draw() {
  const w = scroller.clientWidth, h = scroller.clientHeight;
  const top = scroller.scrollTop, rowH = S.rowH;
  ctx2d.clearRect(0, 0, w, h);
  if (!S.g) return;
  const first = Math.max(0, Math.floor(top / rowH));
  const last = Math.min(S.n - 1, Math.floor((top + h) / rowH));
  const y = (row) => row * rowH + rowH / 2 - top;
  // selection band
  if (S.selected >= first && S.selected <= last) {
    ctx2d.fillStyle = '#e3ecff';
    ctx2d.fillRect(0, y(S.selected) - rowH / 2, w, rowH);
  }
  // edges that cross the rows in view
  let drawnEdges = 0;
  const E = S.edges, lane = S.lane, a = S.g.author;
  ctx2d.lineWidth = Math.max(1, rowH / 14);
  for (let k = 0; k < S.nEdges; k++) {
    const c = E.child[k], p = E.parent[k];
    if (c > last || p < first) continue;
    drawnEdges++;
    const x0 = laneX(lane[c]), xt = laneX(E.lane[k]), x1 = laneX(lane[p]);
    const y0 = y(c), y1 = y(p);
    ctx2d.strokeStyle = authorColor(a[p]);
    ctx2d.beginPath();
    ctx2d.moveTo(x0, y0);
    if (p - c <= 1) {
      ctx2d.bezierCurveTo(x0, y0 + rowH / 2, x1, y1 - rowH / 2, x1, y1);
    } else {
      ctx2d.bezierCurveTo(x0, y0 + rowH / 2, xt, y0 + rowH / 2, xt, y0 + rowH);
      ctx2d.lineTo(xt, y1 - rowH);
      ctx2d.bezierCurveTo(xt, y1 - rowH / 2, x1, y1 - rowH / 2, x1, y1);
    }
    ctx2d.stroke();
  }
  // nodes and their rows
  const r = Math.max(2.5, Math.min(6, rowH / 4));
  const tx = textX();
  const withText = rowH >= 12;
  ctx2d.font = `${Math.min(13, rowH - 6)}px ui-monospace, Menlo, Consolas, monospace`;
  ctx2d.textBaseline = 'middle';
  let drawnNodes = 0;
  for (let i = first; i <= last; i++) {
    drawnNodes++;
    const x = laneX(lane[i]), yy = y(i);
    const color = authorColor(a[i]);
    const isVoid = S.voids.has(i);
    const merge = S.g.parents[i].length > 1;
    ctx2d.beginPath();
    ctx2d.arc(x, yy, merge ? r + 1.5 : r, 0, Math.PI * 2);
    if (isVoid) {
      ctx2d.fillStyle = '#fff';
      ctx2d.fill();
      ctx2d.strokeStyle = '#b32020';
      ctx2d.lineWidth = 1.5;
      ctx2d.stroke();
      ctx2d.beginPath();
      ctx2d.moveTo(x - r, yy - r); ctx2d.lineTo(x + r, yy + r);
      ctx2d.moveTo(x + r, yy - r); ctx2d.lineTo(x - r, yy + r);
      ctx2d.stroke();
    } else {
      ctx2d.fillStyle = color;
      ctx2d.fill();
      if (merge) {
        ctx2d.strokeStyle = '#fff';
        ctx2d.lineWidth = 1.5;
        ctx2d.beginPath();
        ctx2d.arc(x, yy, r - 1, 0, Math.PI * 2);
        ctx2d.stroke();
      }
    }
    if (withText) {
      let xx = tx;
      ctx2d.fillStyle = '#6b7385';
      const c = short(S.g.cids[i]).slice(HEADER.length);
      ctx2d.fillText(c, xx, yy);
      xx += ctx2d.measureText(c).width + 10;
      ctx2d.fillStyle = color;
      const who = authorLabel(S.g.authors[a[i]]);
      ctx2d.fillText(who, xx, yy);
      xx += ctx2d.measureText(who).width + 10;
      ctx2d.fillStyle = isVoid ? '#b32020' : '#1d2330';
      ctx2d.fillText((isVoid ? '[void] ' : '') + S.g.summary[i], xx, yy);
    }
  }
  canvas.dataset.nodes = String(drawnNodes);
  canvas.dataset.edges = String(drawnEdges);
  canvas.dataset.first = String(first);
}

function rowAt(offsetY) {
  return Math.floor((offsetY + scroller.scrollTop) / S.rowH);
}

function scrollToRow(i) {
  const h = scroller.clientHeight;
  const y = i * S.rowH;
  if (y < scroller.scrollTop || y + S.rowH > scroller.scrollTop + h) {
    scroller.scrollTop = Math.max(0, y - h / 3);
  }
}

function setZoom(rowH, anchorY) {
  rowH = Math.max(4, Math.min(40, rowH));
  if (rowH === S.rowH) return;
  const ay = anchorY === undefined ? scroller.clientHeight / 2 : anchorY;
  const row = (scroller.scrollTop + ay) / S.rowH;
  S.rowH = rowH;
  resize();
  scroller.scrollTop = Math.max(0, row * rowH - ay);
  queueDraw();
}

// For tests and scripts: where a change's node is, as an offset from the canvas's centre
// (what a WebDriver pointer action with the canvas as origin takes).
window.weftUi = {
  nodeOffset(cid) {
    const i = S.g ? S.g.cids.indexOf(cid) : -1;
    if (i < 0) return null;
    scrollToRow(i);
    draw();
    const x = laneX(S.lane[i]);
    const y = i * S.rowH + S.rowH / 2 - scroller.scrollTop;
    return {
      x: Math.round(x - canvas.clientWidth / 2),
      y: Math.round(y - canvas.clientHeight / 2),
    };
  },
  state: S,
  // Draws now (not at the next frame); for measuring.
  redraw: () => draw(),
};

// ----- panels -----

async function select(i) {
  if (!S.g || i < 0 || i >= S.n) return;
  S.selected = i;
  queueDraw();
  const cid = S.g.cids[i];
  try {
    const c = await getJSON('/api/show/' + encodeURIComponent(cid));
    if (S.g.cids[S.selected] !== cid) return;
    renderDetail(c);
    showError(null);
  } catch (e) { showError(e); }
}

function renderDetail(c) {
  const d = $('detail');
  d.dataset.cid = c.cid;
  d.replaceChildren();
  const rows = [
    ['change', el('code', { class: 'cid' }, c.cid)],
    ['author', el('span', { class: 'author' },
      el('span', { class: 'dot', style: '' }), authorLabel(c.author), ' ',
      el('code', { class: 'cid', title: c.author }, c.author))],
    ['time', timeText(c.time)],
    ['height / seq', `${c.height} / ${c.seq}`],
    ['parents', c.parents.length ? el('span', {}, ...c.parents.map((p) =>
      el('div', {}, el('span', { class: 'link mono', onclick: () => selectCid(p) }, short(p)))))
      : 'none (genesis)'],
    ['signature', c.signature_valid ? el('span', { class: 'ok sig' }, 'valid')
      : el('span', { class: 'bad sig' }, 'INVALID')],
    ['size', c.size + ' bytes'],
  ];
  if (c.void) rows.push(['void', el('span', { class: 'void' },
    'its author lacked the role: its ops do not count')]);
  const t = el('table', {});
  for (const [k, v] of rows) t.append(el('tr', {}, el('th', {}, k), el('td', {}, v)));
  d.append(t);
  const idx = S.g.authors.indexOf(c.author);
  const dot = d.querySelector('.dot');
  if (dot && idx >= 0) dot.style.background = authorColor(idx);
  const ops = el('div', { class: 'ops' }, el('h4', {}, 'ops'));
  c.ops.forEach((op, i) => {
    const { op: name, ...rest } = op;
    const line = el('div', { class: 'op mono', 'data-op': String(i) }, `${i}: ${name} `,
      rest.key !== undefined ? el('b', {}, rest.key) : null,
      rest.key !== undefined ? '' : ' ' + json(rest));
    for (const diff of c.diffs.filter((x) => x.op === i)) {
      line.append(el('div', { class: 'diffline' }, '\u00a0\u00a0', json(diff.old),
        el('span', { class: 'arrow' }, ' -> '), json(diff.new)));
    }
    ops.append(line);
  });
  d.append(ops);
  const actions = el('div', { class: 'actions' },
    el('button', { onclick: () => setAtCid(c.cid) }, 'state here'),
    el('button', { onclick: () => { $('diff-from').value = c.cid; } }, 'diff from here'),
    el('button', { onclick: () => { $('diff-to').value = c.cid; runDiff(); } }, 'diff to here'));
  if (S.info && S.info.write) {
    actions.append(el('button', { onclick: () => revert(c.cid) }, 'revert'));
  }
  d.append(actions);
}

function selectCid(cid) {
  const i = S.g ? S.g.cids.indexOf(cid) : -1;
  if (i >= 0) { scrollToRow(i); select(i); }
}

// The slider runs from the oldest change (0) to now (n - 1, the heads).
function sliderToAt(v) {
  if (!S.g || v >= S.n - 1) return null;
  return S.g.cids[S.n - 1 - v];
}

function setAtCid(cid) {
  const i = S.g.cids.indexOf(cid);
  if (i < 0) return;
  $('slider').value = String(S.n - 1 - i);
  S.at = cid;
  loadState();
}

let stateSeq = 0;
async function loadState() {
  const at = S.at;
  const seq = ++stateSeq;
  $('at-label').textContent = at ? `${short(at)} ${timeText(S.g.time[S.g.cids.indexOf(at)])}` : 'now';
  try {
    const q = at ? '?at=' + encodeURIComponent(at) : '';
    const ls = await getJSON('/api/ls' + q);
    if (seq !== stateSeq) return;
    const s = $('state');
    s.dataset.at = at || '@';
    s.dataset.keys = String(ls.entries.length);
    s.dataset.conflicts = String(ls.entries.filter((e) => e.conflict).length);
    const t = el('table', {}, el('tr', {}, el('th', {}, 'key'), el('th', {}, 'kind'), el('th', {}, 'value')));
    for (const e of ls.entries) {
      t.append(el('tr', {
        class: 'key' + (e.conflict ? ' conflict' : ''), 'data-key': e.key,
        title: e.conflict ? 'concurrent values: click for each one and who wrote it' : 'click for blame',
        onclick: () => loadBlame(e.key),
      }, el('td', { class: 'mono' }, e.key), el('td', {}, e.kind),
      el('td', { class: 'mono' }, e.error ? `<${e.error}>` : json(e.value))));
    }
    s.replaceChildren(ls.entries.length ? t : el('p', { class: 'hint' }, 'no keys'));
    showError(null);
  } catch (e) { showError(e); }
}

async function loadBlame(key) {
  const q = '?key=' + encodeURIComponent(key) + (S.at ? '&at=' + encodeURIComponent(S.at) : '');
  try {
    const b = await getJSON('/api/blame' + q);
    const box = $('blame');
    box.dataset.key = key;
    const t = el('table', {}, el('tr', {}, el('th', { colSpan: 4 }, `blame ${key}`)));
    for (const l of b.lines) {
      const tr = el('tr', {},
        el('td', {}, el('span', { class: 'link mono', onclick: () => selectCid(l.change) }, short(l.change))),
        el('td', {}, authorLabel(l.author)), el('td', {}, timeText(l.time)),
        el('td', { class: 'mono' }, json(l.value)));
      if (S.info && S.info.write && b.lines.length > 1 && !S.at) {
        tr.append(el('td', {}, el('button', { onclick: () => resolve(key, l.change) }, 'keep this')));
      }
      t.append(tr);
    }
    box.replaceChildren(t);
    showError(null);
  } catch (e) { showError(e); }
}

async function runDiff() {
  const from = $('diff-from').value.trim(), to = $('diff-to').value.trim();
  try {
    const q = '?from=' + encodeURIComponent(from) + (to ? '&to=' + encodeURIComponent(to) : '');
    const d = await getJSON('/api/diff' + q);
    const box = $('diff');
    box.dataset.keys = String(d.keys.length);
    if (!d.keys.length) { box.replaceChildren(el('p', { class: 'hint' }, 'no difference')); return; }
    const t = el('table', {});
    for (const k of d.keys) {
      t.append(el('tr', {}, el('td', { class: 'mono' }, k.key), el('td', { class: 'mono' }, json(k.old)),
        el('td', { class: 'arrow' }, '->'), el('td', { class: 'mono' }, json(k.new))));
    }
    box.replaceChildren(t);
    showError(null);
  } catch (e) { showError(e); }
}

async function loadMembers() {
  try {
    const m = await getJSON('/api/members');
    const t = el('table', {}, el('tr', {}, el('th', {}, 'key'), el('th', {}, 'role'), el('th', {}, 'name')));
    for (const x of m.members) {
      const i = S.g ? S.g.authors.indexOf(x.key) : -1;
      t.append(el('tr', {}, el('td', { class: 'mono', title: x.key },
        i >= 0 ? el('span', { class: 'dot', style: `background:${authorColor(i)}` }) : null,
        x.key.slice(0, 16)), el('td', {}, x.role), el('td', {}, x.name || '')));
    }
    $('members').replaceChildren(t);
  } catch (e) { showError(e); }
}

async function loadRemotes() {
  try {
    const [st, conv] = await Promise.all([getJSON('/api/status'), getJSON('/api/convergence')]);
    const box = el('div', {});
    if (!st.remotes.length) box.append(el('p', { class: 'hint' }, 'no remotes'));
    for (const r of st.remotes) {
      const age = r.last_success_age_ms == null ? 'never synced'
        : `last synced ${Math.round(r.last_success_age_ms / 1000)} s ago`;
      const div = el('div', { class: 'remote' },
        el('b', {}, r.remote), ' ', el('span', { class: 'mono' }, r.url), ' \u2014 ', age, ', ',
        el('span', { class: r.converged ? 'ok' : 'bad' }, r.converged ? 'converged' : 'not converged'));
      if (r.last_error) div.append(el('div', { class: 'bad' }, r.last_error));
      for (const d of r.docs) {
        div.append(el('div', { class: 'mono' }, `  ${d.name || d.doc.slice(0, 16)}: ahead ${d.ahead}, behind ${d.behind == null ? '?' : d.behind}`));
      }
      box.append(div);
    }
    const f = (x) => x == null ? '-' : x + ' ms';
    const t = el('table', {}, el('tr', {}, el('th', {}, 'arrival delay'), el('th', {}, 'n'),
      el('th', {}, 'median'), el('th', {}, 'p99'), el('th', {}, 'max')));
    const row = (label, x) => el('tr', {}, el('td', {}, label), el('td', {}, x.count),
      el('td', {}, f(x.median_ms)), el('td', {}, f(x.p99_ms)), el('td', {}, f(x.max_ms)));
    t.append(row('all peers', conv));
    for (const s of conv.sources) t.append(row('from ' + s.source, s));
    box.append(t);
    $('remotes').replaceChildren(box);
  } catch (e) { showError(e); }
}

async function revert(cid) {
  try {
    const r = await getJSON('/api/revert/' + encodeURIComponent(cid), { method: 'POST' });
    showError(r.cid ? null : 'nothing to revert');
  } catch (e) { showError(e); }
}

async function resolve(key, cid) {
  try {
    await getJSON('/api/resolve?key=' + encodeURIComponent(key) + '&take=' + encodeURIComponent(cid),
      { method: 'POST' });
    showError(null);
  } catch (e) { showError(e); }
}

// ----- loading -----

async function loadGraph() {
  const keep = S.g && S.selected >= 0 ? S.g.cids[S.selected] : null;
  const atNow = !S.at;
  const t0 = performance.now();
  const g = await getJSON('/api/graph');
  S.timings = { fetchMs: performance.now() - t0 };
  setGraph(g, keep, atNow);
}

function setGraph(g, keep, atNow) {
  const t1 = performance.now();
  S.g = g;
  S.n = g.cids.length;
  layout(g);
  S.timings = { ...S.timings, layoutMs: performance.now() - t1 };
  S.selected = keep ? g.cids.indexOf(keep) : -1;
  $('counts').textContent = `${S.n} changes, ${g.heads.length} head${g.heads.length === 1 ? '' : 's'}, ${g.authors.length} author${g.authors.length === 1 ? '' : 's'}`;
  const slider = $('slider');
  slider.max = String(Math.max(0, S.n - 1));
  slider.value = atNow ? slider.max : String(S.n - 1 - g.cids.indexOf(S.at));
  $('legend').replaceChildren(...g.authors.slice(0, 12).map((h, i) =>
    el('span', {}, el('i', { style: `background:${authorColor(i)}` }), authorLabel(h))));
  document.body.dataset.changes = String(S.n);
  resize();
}

// The changes that arrived since the graph was loaded (`/api/graph?since=HEADS`), merged in
// by height (any order by height, greatest first, has every change before its parents).
async function loadNew() {
  const old = S.g;
  const d = await getJSON('/api/graph?since=' + encodeURIComponent(old.heads.join(',')));
  if (d.membership) return loadGraph();
  if (S.g !== old) return;
  if (!d.cids.length) { old.heads = d.heads; return; }
  const index = new Map();
  old.cids.forEach((c, i) => index.set(c, i));
  const authors = old.authors.slice(), names = old.names.slice();
  const authorOf = d.authors.map((a, k) => {
    let i = authors.indexOf(a);
    if (i < 0) { authors.push(a); names.push(d.names[k]); i = authors.length - 1; }
    return i;
  });
  const n = old.cids.length + d.cids.length;
  const g = {
    doc: old.doc, heads: d.heads, authors, names, cids: new Array(n), parents: new Array(n),
    author: new Array(n), time: new Array(n), height: new Array(n), summary: new Array(n), void: [],
  };
  // Where each old (o) and new (w) change goes.
  const oldAt = new Int32Array(old.cids.length), newAt = new Int32Array(d.cids.length);
  for (let i = 0, j = 0, k = 0; k < n; k++) {
    if (j < d.cids.length && (i >= old.cids.length || d.height[j] >= old.height[i])) {
      newAt[j] = k;
      g.cids[k] = d.cids[j]; g.author[k] = authorOf[d.author[j]]; g.time[k] = d.time[j];
      g.height[k] = d.height[j]; g.summary[k] = d.summary[j];
      j++;
    } else {
      oldAt[i] = k;
      g.cids[k] = old.cids[i]; g.author[k] = old.author[i]; g.time[k] = old.time[i];
      g.height[k] = old.height[i]; g.summary[k] = old.summary[i];
      i++;
    }
  }
  old.parents.forEach((ps, i) => { g.parents[oldAt[i]] = ps.map((p) => oldAt[p]); });
  d.parents.forEach((ps, j) => {
    g.parents[newAt[j]] = ps.map((p) => p < d.cids.length ? newAt[p] : oldAt[index.get(d.known[p - d.cids.length])])
      .filter((p) => p !== undefined);
  });
  g.void = old.void.map((i) => oldAt[i]).concat(d.void.map((j) => newAt[j]));
  setGraph(g, old.cids[S.selected] || null, !S.at);
}

let refreshTimer = null;
function refreshSoon(full) {
  if (full) S.needFull = true;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 120);
}

// One refresh at a time: changes that land during one make one more after it.
let refreshing = false, dirty = false;
async function refresh() {
  if (refreshing) { dirty = true; return; }
  refreshing = true;
  try {
    do {
      dirty = false;
      try {
        if (S.needFull || !S.g) {
          S.needFull = false;
          await loadGraph();
        } else {
          await loadNew();
        }
        if (!S.at) await loadState();
        showError(null);
      } catch (e) { showError(e); }
      loadMembers();
      loadRemotes();
    } while (dirty);
  } finally { refreshing = false; }
}

function connect() {
  const live = $('live');
  const es = new EventSource('/api/events');
  es.addEventListener('ready', () => {
    live.textContent = 'live';
    live.className = 'badge open';
    document.body.dataset.live = 'open';
    refreshSoon(true);
  });
  es.onmessage = (m) => {
    S.liveEvents++;
    document.body.dataset.events = String(S.liveEvents);
    refreshSoon();
  };
  es.addEventListener('lagged', () => refreshSoon(true));
  es.onerror = () => {
    if (!S.g) refreshSoon(true);
    live.textContent = 'reconnecting';
    live.className = 'badge closed';
    document.body.dataset.live = 'closed';
  };
}

// ----- events -----

canvas.addEventListener('click', (ev) => {
  const i = rowAt(ev.offsetY);
  if (ev.shiftKey && S.g && S.selected >= 0 && i >= 0 && i < S.n) {
    // Shift-click: the diff from the selected change to this one.
    $('diff-from').value = S.g.cids[S.selected];
    $('diff-to').value = S.g.cids[i];
    runDiff();
    return;
  }
  select(i);
});
scroller.addEventListener('scroll', queueDraw, { passive: true });
scroller.addEventListener('wheel', (ev) => {
  if (!ev.ctrlKey) return;
  ev.preventDefault();
  setZoom(S.rowH * (ev.deltaY < 0 ? 1.15 : 1 / 1.15), ev.offsetY);
}, { passive: false });
window.addEventListener('resize', resize);
$('zoom-in').onclick = () => setZoom(S.rowH * 1.25);
$('zoom-out').onclick = () => setZoom(S.rowH / 1.25);
$('to-top').onclick = () => { scroller.scrollTop = 0; };
let sliderTimer = null;
$('slider').addEventListener('input', () => {
  S.at = sliderToAt(Number($('slider').value));
  clearTimeout(sliderTimer);
  sliderTimer = setTimeout(loadState, 60);
});
$('diff-form').addEventListener('submit', (ev) => { ev.preventDefault(); runDiff(); });
document.addEventListener('keydown', (ev) => {
  if (ev.target.tagName === 'INPUT') return;
  if (ev.key === 'j' || ev.key === 'ArrowDown') { if (S.selected < S.n - 1) { select(S.selected + 1); scrollToRow(S.selected); } }
  if (ev.key === 'k' || ev.key === 'ArrowUp') { if (S.selected > 0) { select(S.selected - 1); scrollToRow(S.selected); } }
});

(async function start() {
  try {
    S.info = await getJSON('/api/info');
    $('doc-name').textContent = S.info.name || S.info.doc.slice(0, 16);
    const mode = $('mode');
    mode.textContent = S.info.write ? 'read-write' : 'read-only';
    mode.className = 'badge' + (S.info.write ? ' write' : '');
  } catch (e) { showError(e); }
  // The first load waits for the feed (its `ready` event): no change lands unseen between
  // the two. Should the feed not come up, load anyway.
  connect();
})();
