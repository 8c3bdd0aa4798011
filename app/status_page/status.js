// The obsgate status page: reads the gateway's /api/v1/* every few seconds and shows it.
// Everything from the API reaches the DOM as text (textContent, createElement), never as HTML.
'use strict';

// ?refresh=N refreshes every N seconds (a wall screen may want 30); ?refresh=0 only on actions.
const REFRESH_MS = (() => {
  const asked = Number(new URLSearchParams(location.search).get('refresh') ?? '5');
  return Number.isFinite(asked) && asked >= 0 ? Math.max(asked, asked > 0 ? 1 : 0) * 1000 : 5000;
})();
const TOKEN_KEY = 'obsgate.apiToken';

// States a person must notice, by what they mean; the word is always shown, the colour helps.
const BAD = new Set(['firing', 'failed', 'rolled_back', 'rolled back', 'interrupted', 'error']);
const WAITING = new Set(['pending', 'waiting', 'waiting_for_approval', 'inconclusive', 'paused',
  'dry_run', 'refused']);
const GOOD = new Set(['ok', 'succeeded', 'active', 'resolved']);

let lastSuccess = null;
let reachable = null;
const rendered = {};  // section id -> the JSON it was last drawn from

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function headers(extra) {
  const h = Object.assign({Accept: 'application/json'}, extra || {});
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

// The API's own words for a refusal: {"status":"error","error":"..."} or the text it sent.
async function refusal(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'string') return body.error;
  } catch (e) {
    // not JSON: the text itself
  }
  return text.trim() || response.statusText;
}

async function getJson(path) {
  const response = await fetch(path, {headers: headers(), cache: 'no-store'});
  if (!response.ok) {
    const e = new Error(path + ' answered ' + response.status + ': ' + await refusal(response));
    e.status = response.status;
    throw e;
  }
  return response.json();
}

// ---- formatting ----

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function cell(row, content, className) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content);
  else td.textContent = content === undefined || content === null ? '' : String(content);
  if (className) td.className = className;
  row.append(td);
  return td;
}

function rowHeader(row, text) {
  const th = el('th', text);
  th.scope = 'row';
  row.append(th);
  return th;
}

function pct(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'no data';
  const p = v * 100;
  return (p !== 0 && Math.abs(p) < 0.01 ? p.toPrecision(2) : p.toFixed(2)) + '%';
}

function count(v) {
  if (v === null || v === undefined) return 'no data';
  return String(Math.round(v));
}

function pValue(v) {
  if (v === null || v === undefined) return 'no data';
  if (v < 0.0001) return '< 0.0001';
  return v.toPrecision(2);
}

// "error_rate(5m) = 5.00%", "p_value(5m, 0.01) < 0.0001".
function measurement(name, v) {
  const shown = measured(name, v);
  return name + (shown.startsWith('<') ? ' ' : ' = ') + shown;
}

function measured(name, v) {
  if (v === null || v === undefined) return 'no data';
  if (/error_rate|ratio/.test(name)) return pct(v);
  if (/p_value/.test(name)) return pValue(v);
  return String(Math.round(v * 1000) / 1000);
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function localTime(d) {
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function when(iso) {
  if (!iso || iso.startsWith('1970-')) return el('span', '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return el('span', iso);
  const t = el('time', d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
      ' ' + localTime(d));
  t.dateTime = iso;
  return t;
}

// A state as a word in a badge; the word carries the meaning, the class only colours it.
function badge(state) {
  const word = String(state).replaceAll('_', ' ');
  const s = el('span', word, 'state');
  const key = String(state);
  if (BAD.has(key) || BAD.has(word)) s.classList.add('state-bad');
  else if (WAITING.has(key)) s.classList.add('state-waiting');
  else if (GOOD.has(key)) s.classList.add('state-good');
  return s;
}

// The error rate minute by minute as a small line; its text alternative says the same in words.
function sparkline(requests, errors) {
  const svgNs = 'http://www.w3.org/2000/svg';
  const width = 150;
  const height = 28;
  const rates = requests.map((n, i) => (n > 0 ? errors[i] / n : null));
  const known = rates.filter((r) => r !== null);
  const top = Math.max(0.01, ...known);
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  const label = known.length === 0 ?
    'No requests in the last 15 minutes' :
    'Error rate per minute, last 15 minutes: highest ' + pct(Math.max(...known)) +
      ', latest ' + pct(known[known.length - 1]) + ' (scale 0 to ' + pct(top) + ')';
  svg.setAttribute('aria-label', label);
  const title = document.createElementNS(svgNs, 'title');
  title.textContent = label;
  svg.append(title);
  const base = document.createElementNS(svgNs, 'line');
  base.setAttribute('x1', '0');
  base.setAttribute('x2', String(width));
  base.setAttribute('y1', String(height - 1));
  base.setAttribute('y2', String(height - 1));
  base.setAttribute('class', 'sparkline-axis');
  svg.append(base);
  const inset = 3;  // so a dot at either end is drawn whole
  const step = (width - 2 * inset) / Math.max(1, rates.length - 1);
  let points = [];
  const flush = () => {
    if (points.length === 1) {
      const dot = document.createElementNS(svgNs, 'circle');
      dot.setAttribute('cx', points[0][0]);
      dot.setAttribute('cy', points[0][1]);
      dot.setAttribute('r', '2.2');
      dot.setAttribute('class', 'sparkline-dot');
      svg.append(dot);
    } else if (points.length > 1) {
      const line = document.createElementNS(svgNs, 'polyline');
      line.setAttribute('points', points.map((p) => p.join(',')).join(' '));
      line.setAttribute('class', 'sparkline-line');
      svg.append(line);
    }
    points = [];
  };
  rates.forEach((r, i) => {
    if (r === null) return flush();  // a minute without requests is a gap, not a zero
    const x = (inset + i * step).toFixed(1);
    const y = (height - 2 - (r / top) * (height - 4)).toFixed(1);
    points.push([x, y]);
  });
  flush();
  return svg;
}

// ---- sections ----

// Redraws a table body only when its data changed, and gives focus back to the control that
// had it, so a refresh never pulls a button out from under the keyboard.
function draw(id, data, fill) {
  const json = JSON.stringify(data);
  if (rendered[id] === json) return;
  rendered[id] = json;
  const table = document.getElementById(id);
  const body = table.tBodies[0];
  const focused = document.activeElement && body.contains(document.activeElement) ?
    document.activeElement.dataset.focusKey : undefined;
  const fresh = document.createElement('tbody');
  const rows = fill(fresh);
  body.replaceWith(fresh);
  document.getElementById(id + '-empty').hidden = rows > 0;
  table.hidden = rows === 0;
  if (focused) {
    const again = fresh.querySelector('[data-focus-key="' + CSS.escape(focused) + '"]');
    if (again) again.focus();
  }
}

function seriesKey(ns, deployment, version) {
  return ns + '\u0000' + deployment + '\u0000' + version;
}

function drawDeployments(deployments, history, alerts, rollbacks) {
  const past = new Map();
  for (const h of history.series || []) {
    past.set(seriesKey(h.namespace, h.deployment, h.version), h);
  }
  const alerting = new Map();
  for (const a of alerts) {
    const l = a.labels || {};
    const k = seriesKey(l.namespace, l.deployment, l.version);
    const was = alerting.get(k);
    if (!was || a.state === 'firing') alerting.set(k, a);
  }
  const rolledBack = new Set(rollbacks.filter((r) => r.result === 'rolled_back')
      .map((r) => seriesKey(r.namespace, r.deployment, r.badVersion)));
  const sorted = deployments.slice().sort((a, b) =>
    (a.namespace + '/' + a.deployment).localeCompare(b.namespace + '/' + b.deployment) ||
    a.first_seen.localeCompare(b.first_seen));
  draw('deployments', {sorted, history, alerts, rollbacks}, (body) => {
    for (const d of sorted) {
      const k = seriesKey(d.namespace, d.deployment, d.version);
      const h = past.get(k);
      const w = (d.windows || {})['5m'] || {};
      const tr = document.createElement('tr');
      tr.dataset.series = d.namespace + '/' + d.deployment + '/' + d.version;
      rowHeader(tr, d.namespace + '/' + d.deployment);
      cell(tr, d.version);
      const alert = alerting.get(k);
      const states = [];
      if (alert) states.push(alert.state);
      if (rolledBack.has(k)) states.push('rolled back');
      if (states.length === 0) states.push(!w.requests && !w.log_lines ? 'idle' : 'ok');
      const st = cell(tr, '', 'status');
      for (const state of states) st.append(badge(state), ' ');
      if (alert) st.append(el('span', (alert.labels || {}).alertname || '', 'detail block'));
      cell(tr, count(w.requests), 'num');
      cell(tr, pct(w.error_rate), 'num error-rate');
      const b = h && h.baseline;
      cell(tr, b ? b.version : 'none');
      cell(tr, b ? pct(b.error_rate) : '—', 'num');
      cell(tr, b ? count(b.requests) : '—', 'num');
      cell(tr, b ? pValue(b.p_value) : '—', 'num');
      cell(tr, h ? sparkline(h.requests, h.errors) : 'no history');
      body.append(tr);
    }
    return sorted.length;
  });
}

function drawAlerts(alerts) {
  const shown = alerts.filter((a) => a.state === 'pending' || a.state === 'firing')
      .sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1));
  draw('alerts', shown, (body) => {
    for (const a of shown) {
      const l = a.labels || {};
      const tr = document.createElement('tr');
      cell(tr, badge(a.state));
      rowHeader(tr, l.alertname || '');
      cell(tr, (l.namespace || '') + '/' + (l.deployment || ''));
      cell(tr, l.version || '');
      const values = el('ul', null, 'values');
      for (const [name, v] of Object.entries(a.measurements || {})) {
        values.append(el('li', measurement(name, v)));
      }
      cell(tr, values);
      cell(tr, when(a.activeAt));
      cell(tr, (a.annotations || {}).summary || '');
      body.append(tr);
    }
    return shown.length;
  });
}

function stepList(steps, current) {
  const ol = el('ol', null, 'steps');
  steps.forEach((s, i) => {
    const li = el('li');
    li.append(el('span', s.kind, 'step-kind'), ' ', badge(s.state));
    const live = s.state === 'running' || s.state === 'waiting' || s.state === 'failed';
    if (i === current && live && s.message) li.append(' ', el('span', s.message, 'detail'));
    ol.append(li);
  });
  return ol;
}

function drawRuns(runs) {
  draw('runs', runs, (body) => {
    for (const r of runs) {
      const tr = document.createElement('tr');
      tr.dataset.run = r.id;
      const th = rowHeader(tr, r.id);
      th.append(el('span', r.pipeline + ', ' + r.namespace + '/' + r.deployment + ', ' +
          r.environment, 'detail block'));
      cell(tr, r.tag);
      cell(tr, badge(r.state), 'run-state');
      cell(tr, stepList(r.steps || [], r.current));
      const message = [r.message, r.rollForward, r.rollbackMessage].filter(Boolean).join(' ');
      cell(tr, message);
      const actions = cell(tr, '');
      if (r.state === 'waiting_for_approval' || r.state === 'inconclusive') {
        for (const [action, label] of [['approve', 'Approve'], ['abort', 'Abort']]) {
          const button = el('button', label, 'action-' + action);
          button.type = 'button';
          button.dataset.focusKey = action + ':' + r.id;
          button.setAttribute('aria-label', label + ' run ' + r.id);
          button.addEventListener('click', () => act(r.id, action, button));
          actions.append(button, ' ');
        }
      }
      body.append(tr);
    }
    return runs.length;
  });
}

function drawRollbacks(rollbacks) {
  draw('rollbacks', rollbacks, (body) => {
    for (const r of rollbacks) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.append(when(r.at));
      tr.append(th);
      cell(tr, r.namespace + '/' + r.deployment);
      cell(tr, r.badVersion);
      cell(tr, r.toVersion || r.baselineVersion || r.toRevision || '—');
      const res = cell(tr, badge(r.result));
      if (r.origin) res.append(el('span', r.origin, 'detail block'));
      const reason = cell(tr, r.reason || '');
      if (r.guard) reason.append(' ', el('span', '(guard: ' + r.guard + ')', 'detail'));
      if (r.message) reason.append(el('span', r.message, 'detail block'));
      const values = el('ul', null, 'values');
      for (const [name, v] of Object.entries(r.values || {})) {
        values.append(el('li', measurement(name, v)));
      }
      cell(tr, values);
      body.append(tr);
    }
    return rollbacks.length;
  });
}

function drawSilences(silences) {
  draw('silences', silences, (body) => {
    for (const s of silences) {
      const tr = document.createElement('tr');
      cell(tr, badge((s.status || {}).state || 'unknown'));
      const matchers = (s.matchers || []).map((m) => m.name +
          (m.isEqual === false ? (m.isRegex ? '!~' : '!=') : (m.isRegex ? '=~' : '=')) +
          JSON.stringify(m.value)).join(', ');
      rowHeader(tr, matchers);
      cell(tr, when(s.startsAt));
      cell(tr, when(s.endsAt));
      cell(tr, s.createdBy);
      cell(tr, s.comment);
      body.append(tr);
    }
    return silences.length;
  });
}

// ---- refresh and actions ----

function setConnection(ok, text) {
  const c = document.getElementById('connection');
  if (reachable !== ok || c.textContent !== text) c.textContent = text;
  c.className = ok ? 'ok' : 'unreachable';
  reachable = ok;
}

async function refresh() {
  try {
    const [deployments, history, alerts, runs, rollbacks, silences] = await Promise.all([
      getJson('/api/v1/deployments'), getJson('/api/v1/deployments/history'),
      getJson('/api/v1/alerts'), getJson('/api/v1/runs'), getJson('/api/v1/rollbacks'),
      getJson('/api/v1/silences'),
    ]);
    const alertList = (alerts.data || {}).alerts || [];
    drawDeployments(deployments.data || [], history.data || {}, alertList, rollbacks);
    drawAlerts(alertList);
    drawRuns(runs);
    drawRollbacks(rollbacks);
    drawSilences(silences);
    lastSuccess = new Date();
    setConnection(true, 'Connected to the gateway.');
    document.getElementById('updated').textContent = 'Last updated ' + localTime(lastSuccess) + '.';
  } catch (e) {
    const since = lastSuccess ? ' Showing what it said at ' + localTime(lastSuccess) + '.' :
      ' Nothing to show yet.';
    const retry = REFRESH_MS > 0 ? '; retrying every ' + REFRESH_MS / 1000 + ' seconds.' : '.';
    if (e.status) {  // it answered, and said no (a wrong token, a gateway still starting)
      setConnection(false, 'The gateway refused: ' + e.message + retry + since);
    } else {
      const why = e instanceof TypeError ? 'no answer' : e.message;
      setConnection(false, 'The gateway is unreachable (' + why + ')' + retry + since);
    }
  }
}

async function act(id, action, button) {
  const result = document.getElementById('action-result');
  button.disabled = true;
  const verb = action === 'approve' ? 'Approving' : 'Aborting';
  result.className = '';
  result.textContent = verb + ' run ' + id + '…';
  try {
    const response = await fetch('/api/v1/runs/' + encodeURIComponent(id) + '/' + action, {
      method: 'POST',
      headers: headers(),
    });
    if (response.ok) {
      result.textContent = 'Run ' + id + (action === 'approve' ? ' approved.' : ' aborted.');
      result.className = 'ok';
    } else {
      const why = await refusal(response);
      result.textContent = 'The gateway refused to ' + action + ' run ' + id + ' (' +
          response.status + '): ' + why;
      result.className = 'refused';
    }
  } catch (e) {
    result.textContent = 'Could not ' + action + ' run ' + id + ': the gateway is unreachable.';
    result.className = 'refused';
  }
  button.disabled = false;
  await refresh();
}

function setUpToken() {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token');
  const state = document.getElementById('token-state');
  const show = () => {
    state.textContent = token() ? 'A token is set for this tab.' : 'No token set.';
  };
  show();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = '';
    show();
    refresh();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    show();
  });
}

document.addEventListener('DOMContentLoaded', () => {
  setUpToken();
  document.getElementById('interval').textContent = REFRESH_MS > 0 ?
    'every ' + REFRESH_MS / 1000 + ' seconds' : 'when you act (refreshing is off)';
  refresh();
  if (REFRESH_MS > 0) setInterval(refresh, REFRESH_MS);
});
