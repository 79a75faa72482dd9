// trailhouse console: a small single-page UI over the JSON API in console/API.md.
// Plain JavaScript, no framework, no build step. Every DOM text goes through
// textContent / createElement (never innerHTML with data). Charts use uPlot.
'use strict';

(() => {
  // ---------------------------------------------------------------- helpers

  const NF = new Intl.NumberFormat('en-US');
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const STATES = ['open', 'acknowledged', 'closed'];
  const KINDS = [['principal', 'Principal'], ['ip', 'Source IP'], ['accesskey', 'Access key'], ['resource', 'Resource ARN']];
  const SEV_COLORS = { critical: '#ff4d6d', high: '#ff8c42', medium: '#f2c94c', low: '#4ea8de', info: '#9aa4b2' };
  const PALETTE = ['#5aa9ff', '#ff8c42', '#7bd88f', '#f2c94c', '#c792ea', '#ff6b81', '#4dd0e1', '#b0bec5'];
  const ACCESS_KEY_RE = /^(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}$/;
  const PAGE_SIZE = 100;
  /** The server reads at most this many (the newest) events for an investigation. */
  const INVESTIGATE_MAX_EVENTS = 1000000;

  /** Build an element: h('a', {href, class, onclick}, 'text', childNode, [more]). */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    let value;
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'value') value = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'disabled' || k === 'selected' || k === 'open') el[k] = true;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, kids);
    if (value !== undefined) el.value = value;
    return el;
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }
  const $ = (sel, root = document) => root.querySelector(sel);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const isAbort = (e) => e && e.name === 'AbortError';
  const fmtNum = (n) => (n == null ? '–' : typeof n === 'number' ? NF.format(n) : String(n));
  const fmtSecs = (ms) => (ms == null ? '?' : (ms / 1000).toFixed(ms < 100000 ? 1 : 0));
  const compactNum = (n) => (Math.abs(n) >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : Math.abs(n) >= 1e4 ? (n / 1e3).toFixed(0) + 'k' : NF.format(n));

  /** Seconds since the epoch for "2026-11-02T10:00:00Z", "2026-11-02" (UTC) or null. */
  function parseTime(s) {
    if (typeof s !== 'string' || !s) return null;
    let t = s.trim().replace(' ', 'T');
    if (/^\d{4}-\d\d-\d\d$/.test(t)) t += 'T00:00:00Z';
    else if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t)) t += 'Z';
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms / 1000;
  }
  function humanDuration(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min`;
    if (sec < 86400) {
      const m = Math.floor((sec % 3600) / 60);
      return `${Math.floor(sec / 3600)} h` + (m ? ` ${m} min` : '');
    }
    const hh = Math.floor((sec % 86400) / 3600);
    return `${NF.format(Math.floor(sec / 86400))} d` + (hh ? ` ${hh} h` : '');
  }
  function relTime(s) {
    const t = parseTime(s);
    if (t == null) return '';
    const d = Date.now() / 1000 - t;
    return d >= 0 ? `${humanDuration(d)} ago` : `in ${humanDuration(-d)}`;
  }
  /** A time exactly as the API gave it, with a relative time as tooltip. */
  const timeEl = (s) => (s ? h('time', { class: 'ts', datetime: s, title: relTime(s) }, s) : h('span', { class: 'muted' }, '–'));
  const sevBadge = (s) => h('span', { class: `badge sev sev-${SEVERITIES.includes(s) ? s : 'other'}` }, s || '?');
  const stateBadge = (s) => h('span', { class: `badge state state-${STATES.includes(s) ? s : 'other'}` }, s || '?');
  const empty = (text) => h('p', { class: 'muted empty' }, text);
  const safeUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);

  // --------------------------------------------------- investigation links

  const invHref = (kind, value) => '/investigate?' + new URLSearchParams({ kind, value });
  /** Text with line-break opportunities after ':' and '/' (ARNs); textContent is unchanged. */
  const breakable = (s) => s.split(/(?<=[:/])/).flatMap((part, i) => (i ? [h('wbr'), part] : [part]));
  const invLink = (kind, value) => h('a', { class: 'mono inv', href: invHref(kind, value), title: `Investigate ${kind} ${value}` }, breakable(value));

  /** Principal-looking ARNs (users, roles, sessions, root) versus any other resource. */
  function arnKind(v) {
    return /^arn:[^:]+:(iam|sts)::[^:]*:(root$|user\/|role\/|assumed-role\/|federated-user\/)/.test(v) ? 'principal' : 'resource';
  }
  /** What a column (or object key) holds, judged by its name. */
  function columnKind(name) {
    const n = String(name || '').toLowerCase();
    const flat = n.replace(/[^a-z0-9]/g, '');
    if (flat.includes('accesskeyid') || /(^|[._])access_?keys?$/.test(n)) return 'accesskey';
    if (flat.includes('sourceipaddress') || /(^|[._])source_?ips?$/.test(n) || /(^|[._])ips?(_?address(es)?)?$/.test(n)) return 'ip';
    if (flat.includes('resource') && (flat.includes('arn') || flat.endsWith('resources'))) return 'resource';
    if (flat.includes('principal')) return flat.endsWith('principalid') ? 'arn' : 'principal';
    if (flat.endsWith('arn') || flat.endsWith('arns')) return 'arn';
    return null;
  }
  /** The investigation kind for a value in a column of that kind, or null for plain text. */
  function linkKind(colKind, v) {
    if (typeof v !== 'string' || !v.trim() || v.length > 2048) return null;
    const isArn = v.startsWith('arn:');
    if (colKind === 'resource') return isArn ? 'resource' : null;
    if (colKind === 'accesskey' || colKind === 'ip' || colKind === 'principal') return colKind;
    if (isArn) return arnKind(v);
    if (ACCESS_KEY_RE.test(v) && /^(AKIA|ASIA)/.test(v)) return 'accesskey';
    return null;
  }
  /** Render a string value, linked to its investigation when it is one. */
  function textValue(key, v) {
    const kind = linkKind(columnKind(key), v);
    if (kind) return invLink(kind, v);
    if (isAccountKey(key) && isAccountId(v)) return accountLink(v);
    if (/(_seen|_at|time|^at)$/i.test(key) && parseTime(v) != null) return timeEl(v);
    return h('span', { class: /(^|_)(id|key|arn)s?$|account/i.test(key) ? 'mono' : null }, v);
  }
  const joinNodes = (nodes, sep = ', ') => nodes.flatMap((n, i) => (i ? [sep, n] : [n]));
  const listLinks = (kind, items) => (Array.isArray(items) && items.length ? joinNodes(items.map((v) => (kind ? invLink(kind, String(v)) : h('span', { class: 'mono' }, String(v))))) : h('span', { class: 'muted' }, '–'));

  // ------------------------------------------------------ account links

  /** A key (column or object key) that holds an AWS account id: accounts, recipientaccountid, accountId... */
  const isAccountKey = (key) => /(^|[._])(recipient_?)?account_?(id)?s?$/i.test(String(key || ''));
  const isAccountId = (v) => /^\d{12}$/.test(v);
  const accountsHref = (account) => '/alerts?' + new URLSearchParams({ account });
  const accountLink = (v) => h('a', { class: 'mono account', href: accountsHref(v), title: `Alerts in account ${v}` }, v);
  const accountLinks = (items) => (Array.isArray(items) && items.length
    ? joinNodes(items.map((v) => (isAccountId(String(v)) ? accountLink(String(v)) : h('span', { class: 'mono' }, String(v)))))
    : h('span', { class: 'muted' }, '–'));

  // ------------------------------------------------- SQL drill-down links

  /** A SQL string literal (single quotes doubled). */
  const sqlString = (v) => `'${String(v).replace(/'/g, "''")}'`;
  /** The condition on cloudtrail that selects an investigation's subject (as the server's). */
  function subjectCondition(kind, value) {
    const v = sqlString(value);
    switch (kind) {
      case 'principal': return `principal(useridentity) = ${v}`;
      case 'ip': return `sourceipaddress = ${v}`;
      case 'accesskey': return `useridentity.accesskeyid = ${v}`;
      case 'resource': return `eventid IN (SELECT eventid FROM (SELECT eventid, unnest(resources) AS r FROM cloudtrail WHERE resources IS NOT NULL) WHERE get_field(r, 'arn') = ${v})`;
      default: return null;
    }
  }
  /** The subject's calls (the same columns as the investigation's), optionally where column = value. */
  function callsSql(kind, value, column, columnValue) {
    const subject = subjectCondition(kind, value);
    if (!subject) return null;
    const where = column ? `${subject} AND ${column} = ${sqlString(columnValue)}` : subject;
    return 'SELECT eventtime, eventsource, eventname, awsregion, recipientaccountid, principal(useridentity) AS principal, '
      + `sourceipaddress, useragent, errorcode, eventid FROM cloudtrail WHERE ${where} ORDER BY eventtime DESC LIMIT 500`;
  }
  const sqlUrl = (sql, offset) => '/sql?' + new URLSearchParams(offset ? { q: sql, offset: String(offset) } : { q: sql });

  /** A JSON value (from an alert row or its details) as nested DOM. */
  function renderValue(key, v) {
    if (v == null) return h('span', { class: 'muted' }, 'null');
    if (Array.isArray(v)) {
      if (!v.length) return h('span', { class: 'muted' }, '[]');
      if (v.every((x) => x == null || typeof x !== 'object')) return h('span', null, joinNodes(v.map((x) => renderValue(key, x))));
      return h('ol', { class: 'kv-list' }, v.map((x) => h('li', null, renderValue(key, x))));
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      if (!keys.length) return h('span', { class: 'muted' }, '{}');
      return h('dl', { class: 'kv nested' }, keys.map((k) => [h('dt', null, k), h('dd', null, renderValue(k, v[k]))]));
    }
    if (typeof v === 'number') {
      if (isAccountKey(key) && isAccountId(String(v))) return accountLink(String(v));
      return h('span', { class: 'num' }, /id$|account/i.test(key) ? String(v) : fmtNum(v));
    }
    if (typeof v === 'boolean') return h('span', null, String(v));
    return textValue(key, String(v));
  }

  /** One result cell (API "Values": null, number, boolean or string). opts.accounts links account ids to their alerts. */
  function renderCell(col, v, opts = {}) {
    if (v == null) return h('td', { class: 'null' }, 'null');
    if (opts.accounts && (typeof v === 'number' || typeof v === 'string') && isAccountKey(col.name) && isAccountId(String(v))) {
      return h('td', null, accountLink(String(v)));
    }
    if (typeof v === 'number') return h('td', { class: 'num', title: String(v) }, /id$|account/i.test(col.name) ? String(v) : fmtNum(v));
    if (typeof v === 'boolean') return h('td', null, String(v));
    const s = String(v);
    const ck = columnKind(col.name);
    if (col.type === 'list' && ck && s.startsWith('[')) {
      try {
        const items = JSON.parse(s);
        if (Array.isArray(items) && items.every((x) => typeof x === 'string')) {
          return h('td', null, items.length ? joinNodes(items.map((x) => textValue(col.name, x))) : h('span', { class: 'muted' }, '[]'));
        }
      } catch (_) { /* not JSON: shown as text */ }
    }
    const kind = linkKind(ck, s);
    if (kind) return h('td', null, invLink(kind, s));
    const long = s.length > 60;
    // JSON text (lists, structs, request parameters) with ARNs in it: link each of them.
    if ((s[0] === '{' || s[0] === '[') && s.includes('"arn:')) {
      try {
        return h('td', { class: 'mono' + (long ? ' clip' : ''), title: long ? s : null }, jsonNodes(JSON.parse(s), col.name));
      } catch (_) { /* not JSON: shown as text */ }
    }
    if (col.type === 'timestamp' || col.type === 'date') return h('td', { class: 'nowrap' }, timeEl(s));
    const structured = col.type === 'list' || col.type === 'struct' || col.type === 'other' || s[0] === '{' || s[0] === '[';
    return h('td', { class: (structured ? 'mono ' : '') + (long ? 'clip' : ''), title: long ? s : null }, s);
  }

  /** Compact JSON as DOM, with investigation links for the values that are one. */
  function jsonNodes(v, key) {
    if (Array.isArray(v)) return ['[', joinNodes(v.map((x) => jsonNodes(x, key)), ','), ']'];
    if (v && typeof v === 'object') {
      return ['{', joinNodes(Object.entries(v).map(([k, x]) => [JSON.stringify(k), ':', jsonNodes(x, k)]), ','), '}'];
    }
    const kind = typeof v === 'string' ? linkKind(columnKind(key), v) : null;
    return kind ? ['"', invLink(kind, v), '"'] : JSON.stringify(v);
  }

  /** A table of {columns, rows} as the API returns them (cellOpts: see renderCell). */
  function dataTable(id, columns, rows, extra = {}, cellOpts = {}) {
    return h('div', { class: 'table-wrap' },
      h('table', { id, class: 'data', ...extra },
        h('thead', null, h('tr', null, columns.map((c) => h('th', { title: c.type }, c.name)))),
        h('tbody', null, rows.map((r) => h('tr', null, columns.map((c, i) => renderCell(c, r[i], cellOpts)))))));
  }

  /**
   * A "top values" table with proportional bars. kind links values to investigations;
   * otherwise opts.link(value) gives {href, title} for a link (or null for plain text).
   */
  function countTable(title, items, kind, opts = {}) {
    items = items || [];
    const max = Math.max(1, ...items.map((x) => x.events || 0));
    const label = opts.label || 'events';
    const valueCell = (v) => {
      if (v == null) return h('span', { class: 'muted' }, '(none)');
      v = String(v);
      if (kind) return invLink(kind, v);
      const link = opts.link && opts.link(v);
      if (link) return h('a', { class: 'drill' + (opts.mono ? ' mono' : ''), href: link.href, title: link.title || v }, v);
      return h('span', { class: opts.mono ? 'mono' : null, title: v.length > 40 ? v : null }, v);
    };
    return h('section', { class: 'card count-card', id: opts.id || null },
      h('h3', null, title),
      items.length ? h('table', { class: 'counts' },
        h('tbody', null, items.map((x) => h('tr', null,
          h('td', { class: 'val' }, valueCell(x.value)),
          h('td', { class: 'bar-cell', title: `${fmtNum(x.events)} ${label}` },
            h('span', { class: 'bar', style: `width:${Math.max(1, (100 * (x.events || 0)) / max).toFixed(1)}%` }),
            h('span', { class: 'num' }, fmtNum(x.events)))))))
        : empty('none'));
  }

  function alertsTable(id, alerts, { selectable = false } = {}) {
    const cols = ['Severity', 'Title', 'Principal', 'Accounts', 'Source IPs', 'First seen', 'Last seen', 'Events', 'State'];
    const all = selectable ? h('input', { type: 'checkbox', id: `${id}-all`, title: 'select every alert on this page',
      onchange: (e) => { for (const c of e.target.closest('table').querySelectorAll('tbody input.pick')) c.checked = e.target.checked; } }) : null;
    return h('div', { class: 'table-wrap' }, h('table', { id, class: 'data alerts' },
      h('thead', null, h('tr', null, selectable ? h('th', { class: 'pick' }, all) : null, cols.map((c) => h('th', null, c)))),
      h('tbody', null, alerts.map((a) => h('tr', {
        class: 'clickable', 'data-alert-id': a.alert_id,
        onclick: (e) => {
          if (e.target.closest('a, button, input, select, textarea') || String(window.getSelection() || '')) return;
          navigate('/alerts/' + encodeURIComponent(a.alert_id));
        },
      },
      selectable ? h('td', { class: 'pick' }, h('input', { type: 'checkbox', class: 'pick', value: a.alert_id })) : null,
      h('td', null, sevBadge(a.severity)),
      h('td', { class: 'title' }, h('a', { href: '/alerts/' + encodeURIComponent(a.alert_id) }, a.title || a.rule_id || a.alert_id)),
      h('td', { class: 'principal' }, a.principal ? invLink('principal', a.principal) : h('span', { class: 'muted' }, '–')),
      h('td', null, accountLinks(a.accounts)),
      h('td', null, listLinks('ip', a.source_ips)),
      h('td', { class: 'nowrap' }, timeEl(a.first_seen)),
      h('td', { class: 'nowrap' }, timeEl(a.last_seen)),
      h('td', { class: 'num' }, fmtNum(a.events)),
      h('td', null, stateBadge(a.state)))))));
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, { method = 'GET', json, signal } = {}) {
    const init = { method, headers: { Accept: 'application/json' }, signal, credentials: 'same-origin' };
    if (json !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (isAbort(e)) throw e;
      throw new ApiError(0, `Cannot reach the trailhouse server (${e.message}).`);
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch (_) {
        if (res.ok) throw new ApiError(res.status, `The server sent something that is not JSON for ${path}.`);
      }
    }
    if (!res.ok) {
      let msg = body && typeof body.error === 'string' ? body.error : `${res.status} ${res.statusText || 'error'}`;
      if (res.status === 401) msg += ' (open /?token=YOUR_TOKEN once in this browser to sign in)';
      throw new ApiError(res.status, msg);
    }
    return body;
  }

  // --------------------------------------------------------------- charts

  const axis = () => ({
    stroke: '#9aa4b2',
    grid: { stroke: 'rgba(255,255,255,0.07)', width: 1 },
    ticks: { stroke: 'rgba(255,255,255,0.12)', width: 1 },
  });

  /**
   * A uPlot time chart in el (which must be in the document). series: [{label, data, color,
   * bars, fill}]; xs ascending unix seconds; step pads a single point.
   */
  function timeChart(ctx, el, xs, series, { height = 220, step = 3600, zero = true, emptyText = 'no data in this range' } = {}) {
    el.dataset.points = String(xs.length);
    if (!xs.length) { if (emptyText) el.append(empty(emptyText)); return null; }
    if (typeof uPlot === 'undefined') { el.append(empty('chart library did not load')); return null; }
    // uPlot pads a single point by years; pad by one step instead, and by half a step
    // around bars so the first and last ones are not cut in half (zooms pass through).
    const lo = xs[0], hi = xs[xs.length - 1];
    const pad = series.some((s) => s.bars) ? step / 2 : 0;
    const xRange = (u, min, max) => (lo === hi ? [lo - step, hi + step]
      : min <= lo && max >= hi ? [lo - pad, hi + pad] : [min, max]);
    const opts = {
      width: Math.max(300, el.clientWidth || 800),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: true, range: xRange },
        y: zero ? { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } : {},
      },
      axes: [{ ...axis(), values: timeTicks }, { ...axis(), size: 56, values: (u, ticks) => ticks.map(compactNum) }],
      series: [{ label: 'UTC', value: (u, ts) => (ts == null ? '–' : utcString(ts, true)) }].concat(series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.bars ? 1 : 1.6,
        fill: s.fill || (s.bars ? s.color + '66' : undefined),
        points: { show: !s.bars && xs.length < 50, size: xs.length < 4 ? 10 : 5 },
        paths: s.bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.85, 40] }) : undefined,
        value: (u, v) => (v == null ? '–' : NF.format(v)),
      }))),
    };
    const u = new uPlot(opts, [xs, ...series.map((s) => s.data)], el);
    ctx.charts.push({ u, el, height });
    return u;
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  function utcString(ts, withTime) {
    const d = new Date(ts * 1000);
    const day = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    return withTime ? `${day} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}` : day;
  }
  /** 24-hour UTC tick labels; the date is added under midnight and the first tick. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    return splits.map((t, i) => {
      const d = new Date(t * 1000);
      const day = utcString(t, false);
      if (incr >= 28 * 86400) return day.slice(0, 7);
      if (incr >= 86400) return i === 0 || d.getUTCMonth() === 0 && d.getUTCDate() === 1 ? day : day.slice(5);
      const hm = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}` + (incr < 60 ? `:${pad2(d.getUTCSeconds())}` : '');
      return i === 0 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0) ? `${hm}\n${day.slice(5)}` : hm;
    });
  }

  function resizeCharts() {
    for (const c of current.charts) {
      const w = Math.max(300, c.el.clientWidth);
      if (Math.abs(w - c.u.width) > 2) c.u.setSize({ width: w, height: c.height });
    }
  }

  // --------------------------------------------------------------- router

  const main = $('#main');
  const errorBox = $('#error');
  let navGen = 0;
  let current = { gen: 0, charts: [], leave: [], controller: null };
  let pending = null; // the controller of a page still loading
  let typingUrl = null; // the URL last produced by typing into a filter (replaced, not pushed)

  const here = () => location.pathname + location.search;
  const setReady = (v) => { document.body.dataset.ready = v; };
  function showError(msg) { errorBox.textContent = msg; errorBox.classList.add('visible'); }
  function clearError() { errorBox.textContent = ''; errorBox.classList.remove('visible'); }

  function navigate(url, { replace = false } = {}) {
    if (replace || url === here()) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    if (!replace) window.scrollTo(0, 0);
    route();
  }

  function matchRoute(path) {
    path = path.replace(/\/+$/, '') || '/';
    const notFound = ['notfound', async () => { throw new ApiError(404, `There is no page at ${path}.`); }];
    if (path === '/' || path === '/overview') return ['overview', pageOverview];
    if (path === '/alerts') return ['alerts', pageAlerts];
    const m = /^\/alerts\/([^/]+)$/.exec(path);
    if (m) {
      let id;
      try { id = decodeURIComponent(m[1]); } catch (_) { return notFound; } // a bad escape such as %E0
      return ['alert', (ctx) => pageAlert(ctx, id)];
    }
    if (path === '/investigate') return ['investigate', pageInvestigate];
    if (path === '/sql') return ['sql', pageSql];
    return notFound;
  }

  async function route() {
    const gen = ++navGen;
    for (const fn of current.leave) { try { fn(); } catch (_) { /* ignore */ } }
    current.leave = [];
    if (current.controller) current.controller.abort();
    setReady('0');
    clearError();
    const [page, render] = matchRoute(location.pathname);
    document.body.dataset.page = page;
    document.title = `${page === 'alert' ? 'Alert' : page === 'notfound' ? 'Not found' : page === 'sql' ? 'SQL' : page[0].toUpperCase() + page.slice(1)} · trailhouse`;
    for (const a of document.querySelectorAll('nav.main-nav a')) {
      a.classList.toggle('active', a.id === `nav-${page === 'alert' ? 'alerts' : page}`);
    }
    main.classList.add('loading');
    const before = document.activeElement;
    const valueAtStart = before && before.tagName === 'INPUT' && main.contains(before) ? before.value : null;

    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    const ctx = {
      gen, page, controller, signal: controller.signal,
      params: new URLSearchParams(location.search),
      root: h('div', { class: `page page-${page}` }),
      charts: [], leave: [], after: [],
      alive: () => gen === navGen,
      api: (path, opts = {}) => api(path, { signal: controller.signal, ...opts }),
    };
    let failure = null;
    try {
      await render(ctx);
    } catch (e) {
      if (isAbort(e) || !ctx.alive()) return;
      failure = e;
    }
    if (!ctx.alive()) return;
    pending = null;

    // Swap the new page in, keeping the focused filter field focused.
    const active = document.activeElement;
    const focusId = active && main.contains(active) && active.id ? active.id : null;
    const sel = focusId && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd] : null;
    // Keys typed into the focused filter while the page was loading are kept.
    const typed = focusId && active === before && valueAtStart !== null && active.value !== valueAtStart ? active.value : null;
    for (const c of current.charts) c.u.destroy();
    current = { gen, charts: ctx.charts, leave: ctx.leave, controller };
    main.replaceChildren(ctx.root);
    main.classList.remove('loading');
    if (focusId) {
      const el = document.getElementById(focusId);
      if (el && /^(INPUT|TEXTAREA)$/.test(el.tagName)) {
        el.focus();
        if (typed != null && el.value !== typed) {
          el.value = typed;
          el.dispatchEvent(new Event('input', { bubbles: true }));
        }
        if (sel) try { el.setSelectionRange(sel[0], sel[1]); } catch (_) { /* not a text field */ }
      }
    }
    if (failure) showError(failure.message || String(failure));
    try {
      // Charts (which need the page in the document) and work like a running query.
      for (const fn of ctx.after) await fn();
    } catch (e) {
      if (isAbort(e) || !ctx.alive()) return;
      showError(e.message || String(e));
    }
    if (ctx.alive() && !ctx.manualReady) setReady('1');
    if (!lakeKnown) loadLakeInBackground();
  }

  // The lake location in the header comes from /api/info (or the overview response).
  let lakeKnown = false;
  function setLake(lake) {
    if (!lake) return;
    lakeKnown = true;
    const el = $('#lake');
    el.textContent = lake;
    el.title = `Lake: ${lake}`;
    try { sessionStorage.setItem('trailhouse.lake', lake); } catch (_) { /* storage off */ }
  }
  let lakeLoading = false;
  function loadLakeInBackground() {
    if (lakeLoading) return;
    lakeLoading = true;
    api('/api/info').then((d) => setLake(d && d.lake), () => { /* the header just stays empty */ });
  }

  // ------------------------------------------------------------- overview

  async function pageOverview(ctx) {
    const hours = ctx.params.get('hours') || '24';
    const root = ctx.root;
    const windows = [['6', '6h'], ['24', '24h'], ['168', '7d'], ['720', '30d']];
    root.append(h('div', { class: 'page-head' },
      h('h1', null, 'Overview'),
      h('div', { class: 'seg', role: 'group', 'aria-label': 'Window' }, windows.map(([v, label]) =>
        h('a', { href: `/overview?hours=${v}`, id: `window-${label}`, class: v === hours ? 'active' : null }, label)))));

    const d = await ctx.api('/api/overview?' + new URLSearchParams({ hours }));
    setLake(d.lake);
    const fr = d.freshness || {};
    const totals = d.alert_totals || [];
    const alertCount = totals.reduce((s, x) => s + (x.events || 0), 0);
    const w = d.window || {};

    root.append(h('p', { class: 'muted window' },
      'Window: ', timeEl(w.from), ' → ', timeEl(w.to), ` (${fmtNum(w.hours)} h ending at the newest event)`));
    root.append(h('div', { class: 'stats' },
      stat('Events', fmtNum(d.events)),
      stat('Alerts (all time)', fmtNum(alertCount), h('a', { href: '/alerts' }, 'triage →')),
      stat('Ingest lag', fr.lag_seconds == null ? '–' : humanDuration(fr.lag_seconds), fr.newest_event ? ['newest ', timeEl(fr.newest_event)] : null, fr.lag_seconds > 3 * 3600 ? 'warn' : null),
      stat('Quarantined files', fmtNum(fr.quarantined), null, fr.quarantined ? 'warn' : null),
      stat('Integrity', d.integrity ? (d.integrity.problems ? `${fmtNum(d.integrity.problems)} problem${d.integrity.problems === 1 ? '' : 's'}` : 'ok') : '–',
        d.integrity ? `${fmtNum(d.integrity.valid)} / ${fmtNum(d.integrity.digests)} digests valid` : 'no digests checked yet',
        d.integrity && d.integrity.problems ? 'bad' : null)));

    const eph = d.events_per_hour || [];
    const hoursChart = h('div', { id: 'hours-chart', class: 'chart', 'data-points': String(eph.length) });
    root.append(h('section', { class: 'card' }, h('h2', null, 'Events per hour'), hoursChart));
    ctx.after.push(() => {
      timeChart(ctx, hoursChart, eph.map((x) => parseTime(x.hour)), [
        { label: 'events', data: eph.map((x) => x.events), color: '#5aa9ff', bars: eph.length <= 400 },
      ], { step: 3600 });
    });

    // Alerts by severity: totals (links) and a chart by day.
    const abs = d.alerts_by_severity || [];
    const days = [...new Set(abs.map((x) => x.day))].sort();
    const sevs = [...new Set([...SEVERITIES.filter((s) => abs.some((x) => x.severity === s)), ...abs.map((x) => x.severity)])];
    const alertsChart = h('div', { id: 'alerts-chart', class: 'chart', 'data-points': String(days.length) });
    root.append(h('section', { class: 'card', id: 'alerts-by-severity' },
      h('h2', null, 'Alerts by severity, per day ', h('span', { class: 'muted h-note' }, '(all time, every alert in the lake; not only this window)')),
      h('div', { class: 'totals' }, totals.length ? totals.map((t) =>
        h('a', { class: 'total', href: '/alerts?' + new URLSearchParams({ severity: t.value }), title: `all ${t.value} alerts` }, sevBadge(t.value), h('span', { class: 'num' }, fmtNum(t.events))))
        : empty('no alerts in the lake yet (run trailhouse detect)')),
      alertsChart));
    ctx.after.push(() => {
      const idx = new Map(days.map((day, i) => [day, i]));
      timeChart(ctx, alertsChart, days.map(parseTime), sevs.map((s, i) => {
        const ys = days.map(() => 0);
        for (const x of abs) if (x.severity === s) ys[idx.get(x.day)] += x.alerts || 0;
        return { label: s, data: ys, color: SEV_COLORS[s] || PALETTE[i % PALETTE.length] };
      }), { step: 86400, height: 180, emptyText: totals.length ? undefined : null });
    });

    root.append(h('div', { class: 'grid3' },
      countTable('Top accounts', d.by_account, null, { mono: true }),
      countTable('Top regions', d.by_region),
      countTable('Top event sources', d.by_source)));

    const integ = d.integrity;
    root.append(h('div', { class: 'grid2' },
      h('section', { class: 'card', id: 'freshness' },
        h('h3', null, 'Ingest freshness'),
        h('dl', { class: 'kv' },
          h('dt', null, 'Newest event'), h('dd', null, timeEl(fr.newest_event)),
          h('dt', null, 'Lag'), h('dd', null, fr.lag_seconds == null ? '–' : humanDuration(fr.lag_seconds)),
          h('dt', null, 'Last commit'), h('dd', null, timeEl(fr.last_commit)),
          h('dt', null, 'Files ingested'), h('dd', { class: 'num' }, fmtNum(fr.files_ingested)),
          h('dt', null, 'Quarantined'), h('dd', { class: fr.quarantined ? 'num warn' : 'num' }, fmtNum(fr.quarantined)))),
      h('section', { class: 'card', id: 'integrity' },
        h('h3', null, 'Integrity'),
        integ == null ? empty('no digests checked yet') : [
          h('dl', { class: 'kv' },
            h('dt', null, 'Digests'), h('dd', { class: 'num' }, fmtNum(integ.digests)),
            h('dt', null, 'Valid'), h('dd', { class: 'num' }, fmtNum(integ.valid)),
            h('dt', null, 'Problems'), h('dd', { class: integ.problems ? 'num bad' : 'num' }, fmtNum(integ.problems))),
          integ.by_status && integ.by_status.length ? countTable('By status', integ.by_status, null, { label: 'digests' }) : null,
        ])));

    const q = d.quarantined || [];
    root.append(h('section', { class: 'card', id: 'quarantined' },
      h('h3', null, `Quarantined files (${fmtNum(q.length)})`),
      q.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', null, h('tr', null, h('th', null, 'File'), h('th', null, 'Error'), h('th', null, 'At'))),
        h('tbody', null, q.map((f) => h('tr', null,
          h('td', { class: 'mono' }, f.name), h('td', { class: 'wrap' }, f.error), h('td', { class: 'nowrap' }, timeEl(f.at)))))))
        : empty('none')));
  }

  function stat(label, value, sub, tone) {
    return h('div', { class: `stat ${tone || ''}` },
      h('div', { class: 'stat-label' }, label),
      h('div', { class: 'stat-value' }, value),
      sub ? h('div', { class: 'stat-sub' }, sub) : null);
  }

  // --------------------------------------------------------------- alerts

  async function pageAlerts(ctx) {
    const p = ctx.params;
    const f = {};
    for (const k of ['severity', 'rule', 'account', 'principal', 'state']) f[k] = p.get(k) || '';
    const offset = Math.max(0, parseInt(p.get('offset'), 10) || 0);
    const root = ctx.root;

    const select = (id, label, values, value) => h('label', null, label,
      h('select', { id, name: id.slice(7), value }, h('option', { value: '' }, 'any'),
        [...new Set([...values, ...(value ? [value] : [])])].map((v) => h('option', { value: v }, v))));
    const text = (id, label, value, ph) => h('label', null, label, h('input', { id, name: id.slice(7), type: 'search', value, placeholder: ph, spellcheck: 'false', autocomplete: 'off' }));

    const form = h('form', { class: 'filters', id: 'alert-filters' },
      select('filter-severity', 'Severity', SEVERITIES, f.severity),
      select('filter-rule', 'Rule', [], f.rule),
      text('filter-account', 'Account', f.account, '111122223333'),
      text('filter-principal', 'Principal', f.principal, 'arn:aws:iam::…'),
      select('filter-state', 'State', STATES, f.state),
      h('button', { type: 'submit' }, 'Apply'),
      h('a', { href: '/alerts', class: 'clear' }, 'clear'));
    const countEl = h('span', { class: 'muted count' });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Alerts'), countEl), form);

    let timer = null;
    const apply = (typing) => {
      clearTimeout(timer);
      const qs = new URLSearchParams();
      for (const el of form.querySelectorAll('select, input')) if (el.value.trim()) qs.set(el.name, el.value.trim());
      const url = '/alerts' + (qs.toString() ? '?' + qs : '');
      if (url === here()) return;
      const replace = typing && typingUrl === here();
      typingUrl = typing ? url : null;
      navigate(url, { replace });
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); apply(false); });
    form.addEventListener('change', () => apply(false));
    form.addEventListener('input', (e) => {
      if (e.target.tagName !== 'INPUT') return;
      clearTimeout(timer);
      timer = setTimeout(() => { if (ctx.gen === current.gen) apply(true); }, 700);
    });
    ctx.leave.push(() => clearTimeout(timer));

    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) qs.set(k, v);
    qs.set('limit', String(PAGE_SIZE));
    qs.set('offset', String(offset));
    const d = await ctx.api('/api/alerts?' + qs);

    // Options from the answer (the rule list is the lake's rules).
    const fill = (sel, values) => {
      const cur = sel.value;
      sel.replaceChildren(h('option', { value: '' }, 'any'), ...[...new Set([...values, ...(cur ? [cur] : [])])].map((v) => h('option', { value: v }, v)));
      sel.value = cur;
    };
    fill($('#filter-severity', form), d.severities || SEVERITIES);
    fill($('#filter-rule', form), d.rules || []);

    const alerts = d.alerts || [];
    const total = d.total || 0;
    countEl.textContent = `${fmtNum(total)} alert${total === 1 ? '' : 's'}`;
    // Incidents first: an identity's alerts as one story, highest score first.
    if (!offset && !Object.values(f).some(Boolean)) {
      const inc = await ctx.api('/api/incidents?limit=10');
      root.append(incidentsSection(inc.incidents || [], inc.total || 0));
    }
    root.append(h('h2', null, 'Alerts'));
    root.append(bulkBar(ctx, 'alerts-table'));
    root.append(alertsTable('alerts-table', alerts, { selectable: true }));
    const nd = d.not_delivered || [];
    if (nd.length) {
      root.append(h('div', { class: 'not-delivered', id: 'not-delivered' },
        h('span', { class: 'muted' }, 'Recorded but not delivered: '),
        nd.map((r, i) => h('span', null, i ? ', ' : '', h('code', null, r.rule_id),
          ` ${[r.suppressed ? `${fmtNum(r.suppressed)} suppressed by exceptions` : '', r.shadow ? `${fmtNum(r.shadow)} shadow` : ''].filter(Boolean).join(', ')}`))));
    }
    if (!alerts.length) root.append(empty(Object.values(f).some(Boolean) ? 'No alerts match these filters.' : 'No alerts.'));
    root.append(pager(total, offset, alerts.length, (o) => {
      const u = new URLSearchParams(location.search);
      if (o) u.set('offset', String(o)); else u.delete('offset');
      return '/alerts' + (u.toString() ? '?' + u : '');
    }));
  }

  const TACTIC_ORDER = ['initial_access', 'credential_access', 'discovery', 'execution', 'privilege_escalation',
    'persistence', 'lateral_movement', 'defense_evasion', 'collection', 'exfiltration', 'impact'];
  const tacticName = (t) => String(t).replace(/_/g, ' ');

  /** The incidents: score, who, the tactics as a strip, the steps (expandable). */
  function incidentsSection(incidents, total) {
    const head = h('div', { class: 'page-head' }, h('h2', null, 'Incidents'),
      h('span', { class: 'muted count', id: 'incidents-count' }, `${fmtNum(total)} incident${total === 1 ? '' : 's'}, highest score first`));
    if (!incidents.length) return h('section', { id: 'incidents' }, head, empty('No incidents: `trailhouse detect` groups each identity\'s alerts.'));
    const rows = incidents.map((i) => {
      const steps = Array.isArray(i.steps) ? i.steps : [];
      const tactics = (Array.isArray(i.tactics) ? i.tactics : []).slice().sort((a, b) => TACTIC_ORDER.indexOf(a) - TACTIC_ORDER.indexOf(b));
      const detail = h('tr', { class: 'incident-steps', hidden: true },
        h('td', { colspan: 7 }, h('ol', { class: 'steps' }, steps.map((st) => h('li', null,
          timeEl(st.first_seen), ' ', sevBadge(st.severity), ' ',
          h('a', { href: '/alerts/' + encodeURIComponent(st.alert_id) }, st.title || st.rule_id), ' ',
          stateBadge(st.state || 'open'))))));
      const row = h('tr', { class: 'clickable incident', 'data-incident-id': i.incident_id,
        onclick: (e) => { if (e.target.closest('a, button')) return; detail.hidden = !detail.hidden; } },
      h('td', null, sevBadge(i.severity)),
      h('td', { class: 'num score' }, fmtNum(i.score)),
      h('td', { class: 'principal' }, i.principal ? invLink('principal', i.principal) : h('span', { class: 'muted' }, i.identity || '–')),
      h('td', null, accountLinks(i.accounts)),
      h('td', null, h('span', { class: 'tactics' }, tactics.map((t, n) => h('span', null, n ? h('span', { class: 'arrow' }, '→') : null, h('span', { class: `tactic t-${t}` }, tacticName(t)))))),
      h('td', { class: 'num' }, `${fmtNum(steps.length)} step${steps.length === 1 ? '' : 's'}`),
      h('td', { class: 'nowrap' }, timeEl(i.last_seen)));
      return [row, detail];
    });
    return h('section', { id: 'incidents' }, head, h('div', { class: 'table-wrap' }, h('table', { id: 'incidents-table', class: 'data incidents' },
      h('thead', null, h('tr', null, ['Severity', 'Score', 'Identity', 'Accounts', 'Tactics', 'Steps', 'Last seen'].map((c) => h('th', null, c)))),
      h('tbody', null, rows.flat()))));
  }

  /** Acknowledge or close the selected alerts with one note. */
  function bulkBar(ctx, tableId) {
    const note = h('input', { id: 'bulk-note', type: 'text', placeholder: 'note (needed to close)', spellcheck: 'false' });
    const status = h('span', { id: 'bulk-status', class: 'muted' });
    const act = async (state) => {
      const ids = [...document.querySelectorAll(`#${tableId} tbody input.pick:checked`)].map((c) => c.value);
      if (!ids.length) { status.textContent = 'Select alerts first.'; return; }
      try {
        const r = await api('/api/alerts/triage', { method: 'POST', json: { ids, state, note: note.value } });
        status.textContent = `${r.state === 'closed' ? 'Closed' : r.state === 'acknowledged' ? 'Acknowledged' : 'Reopened'} ${fmtNum(r.changed)}.`;
        navigate(here(), { replace: true });
      } catch (e) {
        status.textContent = e.message || String(e);
      }
    };
    return h('div', { class: 'bulk', id: 'bulk-bar' },
      h('button', { type: 'button', id: 'bulk-ack', onclick: () => act('acknowledged') }, 'Acknowledge selected'),
      h('button', { type: 'button', id: 'bulk-close', onclick: () => act('closed') }, 'Close selected'),
      note, status);
  }

  /** Prev/next links for limit/offset paging. */
  function pager(total, offset, shown, hrefFor) {
    const prev = offset > 0 ? h('a', { href: hrefFor(Math.max(0, offset - PAGE_SIZE)), class: 'btn', id: 'page-prev' }, '← Prev') : h('span', { class: 'btn disabled' }, '← Prev');
    const next = offset + shown < total ? h('a', { href: hrefFor(offset + PAGE_SIZE), class: 'btn', id: 'page-next' }, 'Next →') : h('span', { class: 'btn disabled' }, 'Next →');
    const range = shown ? `${fmtNum(offset + 1)}–${fmtNum(offset + shown)} of ${fmtNum(total)}` : `0 of ${fmtNum(total)}`;
    return h('div', { class: 'pager' }, prev, h('span', { class: 'muted' }, range), next);
  }

  // ---------------------------------------------------------- alert page

  async function pageAlert(ctx, id) {
    const root = ctx.root;
    root.append(h('a', { href: '/alerts', class: 'back' }, '← Alerts'));
    const d = await ctx.api('/api/alerts/' + encodeURIComponent(id));
    const a = d.alert || {};
    const rule = d.rule;
    const headState = stateBadge((d.triage && d.triage.state) || a.state || 'open');

    root.append(h('div', { class: 'page-head alert-head' },
      h('h1', null, sevBadge(a.severity), ' ', a.title || (rule && rule.title) || a.rule_id || id, ' ', headState),
      h('div', { class: 'muted mono' }, a.alert_id || id)));

    // The alert's fields (every column of its row), details separately.
    const first = ['principal', 'source_ips', 'accounts', 'regions', 'first_seen', 'last_seen', 'events', 'rule_id', 'dedup_key', 'alert_id'];
    const skip = new Set(['title', 'severity', 'details', 'state']);
    const keys = [...first.filter((k) => k in a), ...Object.keys(a).filter((k) => !first.includes(k) && !skip.has(k))];
    const fields = h('section', { class: 'card', id: 'alert-fields' },
      h('h3', null, 'Alert'),
      h('dl', { class: 'kv' }, keys.map((k) => [h('dt', null, k), h('dd', null, renderValue(k, a[k]))])),
      'details' in a ? [h('h4', null, 'Details'), h('div', { id: 'alert-details' }, renderValue('details', a.details))] : null);

    const ruleCard = h('section', { class: 'card', id: 'alert-rule' }, h('h3', null, 'Rule'),
      rule ? [
        h('p', null, h('strong', null, rule.title || rule.id), ' ', h('span', { class: 'muted mono' }, rule.id), ' ', sevBadge(rule.severity)),
        rule.description ? h('p', { class: 'prose' }, rule.description) : null,
        rule.triage ? [h('h4', null, 'Triage guidance'), h('p', { class: 'prose' }, rule.triage)] : null,
        rule.mitre && rule.mitre.length ? [h('h4', null, 'MITRE ATT&CK'), h('p', null, joinNodes(rule.mitre.map((t) =>
          /^T\d{4}(\.\d{3})?$/.test(t)
            ? h('a', { href: `https://attack.mitre.org/techniques/${t.replace('.', '/')}/`, target: '_blank', rel: 'noopener noreferrer', class: 'mono' }, t)
            : h('span', { class: 'mono' }, t))))] : null,
        rule.references && rule.references.length ? [h('h4', null, 'References'), h('ul', { class: 'refs' }, rule.references.map((r) =>
          h('li', null, safeUrl(r) ? h('a', { href: r, target: '_blank', rel: 'noopener noreferrer' }, r) : r)))] : null,
      ] : empty(`The rule ${a.rule_id || ''} is no longer in the rule set.`));

    root.append(h('div', { class: 'alert-grid' }, h('div', null, fields, ruleCard), triageBox(ctx, id, d.triage || { state: 'open', history: [] }, headState, a)));

    const ev = d.events || { columns: [], rows: [] };
    root.append(h('section', { class: 'card' },
      h('h3', null, `Events (${fmtNum((ev.rows || []).length)})`),
      dataTable('alert-events', ev.columns || [], ev.rows || [], {}, { accounts: true })));
  }

  function triageBox(ctx, id, triage, headState, alertRow) {
    const proposal = h('div', { id: 'exception-proposal' });
    const curEl = h('span', { id: 'triage-current', class: 'badge state' });
    const since = h('span', { class: 'muted since' });
    const stateSel = h('select', { id: 'triage-state' }, STATES.map((s) => h('option', { value: s }, s)));
    const note = h('textarea', { id: 'triage-note', rows: '4', placeholder: 'What did you find? (a note is required to close)' });
    const save = h('button', { id: 'triage-save', type: 'button', class: 'primary' }, 'Save');
    const msg = h('span', { class: 'muted', id: 'triage-msg' });
    const err = h('div', { id: 'triage-error', class: 'error-box', role: 'alert' });
    const history = h('ol', { id: 'triage-history', class: 'history' });
    const noHistory = empty('Never triaged.');

    function show(t) {
      const state = t.state || 'open';
      curEl.textContent = state;
      curEl.className = `badge state state-${STATES.includes(state) ? state : 'other'}`;
      headState.textContent = state;
      headState.className = curEl.className;
      since.replaceChildren(...(t.at ? [' since ', timeEl(t.at)] : []), ...(t.note ? [' — ', h('q', null, t.note)] : []));
      stateSel.value = STATES.includes(state) ? state : 'open';
      const hist = t.history || [];
      history.replaceChildren(...hist.map((x) => h('li', null, stateBadge(x.state), ' ', timeEl(x.at), x.note ? h('div', { class: 'note' }, x.note) : null)));
      noHistory.hidden = hist.length > 0;
    }
    show(triage);

    save.addEventListener('click', async () => {
      err.classList.remove('visible');
      clearError();
      msg.textContent = 'saving…';
      save.disabled = true;
      setReady('0');
      try {
        const t = await api(`/api/alerts/${encodeURIComponent(id)}/triage`, { method: 'POST', json: { state: stateSel.value, note: note.value.trim() } });
        if (!ctx.alive()) return;
        show(t || {});
        if (stateSel.value === 'closed' && alertRow) proposal.replaceChildren(exceptionProposal(alertRow, note.value.trim()));
        note.value = '';
        msg.textContent = 'saved';
      } catch (e) {
        if (!ctx.alive()) return;
        msg.textContent = '';
        err.textContent = e.message;
        err.classList.add('visible');
        showError(e.message);
      } finally {
        save.disabled = false;
        if (ctx.alive()) setReady('1');
      }
    });

    return h('section', { class: 'card triage', id: 'triage' },
      h('h3', null, 'Triage'),
      h('p', null, 'Current state: ', curEl, since),
      h('label', null, 'New state', stateSel),
      h('label', null, 'Note', note),
      h('div', { class: 'row' }, save, msg),
      err, proposal,
      h('h4', null, 'History'), history, noHistory);
  }

  /** After a close: the narrowest exception that would have kept this alert quiet (this
   *  rule, this identity or principal, this account, 30 days), to confirm or edit. */
  function exceptionProposal(a, reason) {
    const q = (v) => `'${String(v).replace(/'/g, "''")}'`;
    const parts = [];
    if (a.identity) parts.push(`identity = ${q(a.identity)}`);
    else if (a.principal) parts.push(`principal = ${q(a.principal)}`);
    if (Array.isArray(a.accounts) && a.accounts.length === 1) parts.push(`account = ${q(a.accounts[0])}`);
    const cond = h('input', { id: 'exception-condition', type: 'text', value: parts.join(' AND ') || 'true', spellcheck: 'false' });
    const why = h('input', { id: 'exception-reason', type: 'text', value: reason, placeholder: 'why these alerts are not worth anyone\'s time' });
    const owner = h('input', { id: 'exception-owner', type: 'text', placeholder: 'who answers for it' });
    const days = h('select', { id: 'exception-days' }, [7, 30, 90, 180, 365].map((d) => h('option', { value: String(d), selected: d === 30 }, `${d} days`)));
    const out = h('span', { id: 'exception-msg', class: 'muted' });
    const add = h('button', { type: 'button', id: 'exception-add' }, 'Add exception');
    add.addEventListener('click', async () => {
      out.textContent = 'adding…';
      try {
        const r = await api('/api/exceptions', { method: 'POST', json: {
          rule: a.rule_id, condition: cond.value.trim(), reason: why.value.trim(), owner: owner.value.trim(), days: parseInt(days.value, 10) } });
        out.textContent = `Added exception ${r.exception_id}: alerts it matches are recorded, not delivered, until ${r.expires_at}.`;
        add.disabled = true;
      } catch (e) {
        out.textContent = e.message || String(e);
      }
    });
    return h('div', { class: 'card proposal' },
      h('h4', null, 'Not worth an alert next time?'),
      h('p', { class: 'muted' }, `An exception for rule ${a.rule_id}: matching alerts are recorded and counted, never delivered, until it expires.`),
      h('label', null, 'When (SQL over the alert)', cond),
      h('label', null, 'Reason', why),
      h('label', null, 'Owner', owner),
      h('label', null, 'For', days),
      h('div', { class: 'row' }, add, out));
  }

  // ---------------------------------------------------------- investigate

  function guessKind(v) {
    v = v.trim();
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || (/^[0-9a-f:]+$/i.test(v) && v.includes(':'))) return 'ip';
    if (ACCESS_KEY_RE.test(v)) return 'accesskey';
    if (v.startsWith('arn:')) return arnKind(v);
    return 'principal';
  }

  async function pageInvestigate(ctx) {
    const value = (ctx.params.get('value') || '').trim();
    const kind = ctx.params.get('kind') || (value ? guessKind(value) : 'principal');
    const root = ctx.root;

    let kindTouched = !!ctx.params.get('kind');
    const kindSel = h('select', { id: 'investigate-kind', name: 'kind', value: kind, onchange: () => { kindTouched = true; } },
      KINDS.map(([k, label]) => h('option', { value: k }, label)));
    const input = h('input', { id: 'investigate-value', name: 'value', type: 'search', value, required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'arn:aws:iam::111122223333:user/alice, 203.0.113.7, AKIA…, arn:aws:s3:::bucket' });
    input.addEventListener('input', () => { if (!kindTouched && input.value.trim()) kindSel.value = guessKind(input.value); });
    const form = h('form', { class: 'filters investigate-form', id: 'investigate-form' },
      h('label', null, 'Kind', kindSel), h('label', { class: 'grow' }, 'Value', input), h('button', { type: 'submit', class: 'primary' }, 'Investigate'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (input.value.trim()) navigate(invHref(kindSel.value, input.value.trim()));
    });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Investigate')), form);
    if (!value) {
      root.append(empty('Type a principal ARN, source IP, access key id or resource ARN. Every such value elsewhere in the console links here.'));
      ctx.after.push(() => input.focus());
      return;
    }

    const d = await ctx.api('/api/investigate?' + new URLSearchParams({ kind, value }));
    const subjectKind = d.kind || kind;
    const subjectValue = d.value == null ? value : String(d.value);
    const errRate = d.events ? ` (${((100 * (d.errors || 0)) / d.events).toFixed(1)}%)` : '';
    root.append(h('section', { class: 'card', id: 'investigate-summary' },
      h('h2', null, h('span', { class: 'muted' }, (KINDS.find((k) => k[0] === d.kind) || [0, d.kind])[1] + ' '), h('span', { class: 'mono' }, d.value)),
      d.events ? null : h('p', { class: 'warn' }, 'No events in the lake for this value.'),
      d.truncated ? h('p', { class: 'warn', id: 'investigate-truncated' },
        `More than ${fmtNum(INVESTIGATE_MAX_EVENTS)} events match: the counts, timeline and breakdowns below cover only the newest ${fmtNum(INVESTIGATE_MAX_EVENTS)}. `,
        'The SQL links query every matching event.') : null,
      h('div', { class: 'stats' },
        stat('Events', fmtNum(d.events) + (d.truncated ? '+' : ''), d.truncated ? 'the newest read' : null),
        stat('Errors', fmtNum(d.errors) + errRate, null, d.errors ? 'warn' : null),
        stat('First seen', timeEl(d.first_seen), d.first_seen ? relTime(d.first_seen) : null),
        stat('Last seen', timeEl(d.last_seen), d.last_seen ? relTime(d.last_seen) : null),
        stat('Alerts', fmtNum((d.alerts || []).length)))));

    const tl = d.timeline || [];
    const chart = h('div', { id: 'investigate-timeline', class: 'chart', 'data-points': String(tl.length) });
    root.append(h('section', { class: 'card' }, h('h3', null, `Events and errors per ${d.bucket || 'bucket'}`), chart));
    ctx.after.push(() => timeChart(ctx, chart, tl.map((x) => parseTime(x.time)), [
      { label: 'events', data: tl.map((x) => x.events), color: '#5aa9ff', bars: tl.length <= 400 },
      { label: 'errors', data: tl.map((x) => x.errors), color: '#ff4d6d' },
    ], { step: d.bucket === 'day' ? 86400 : 3600 }));

    // Values that are not investigations themselves open the subject's calls with that value in SQL.
    const drill = (column) => (v) => {
      const sql = callsSql(subjectKind, subjectValue, column, v);
      return sql ? { href: sqlUrl(sql), title: `Calls with ${column} = ${v} (SQL)` } : null;
    };
    root.append(h('div', { class: 'grid3' },
      countTable('Services', d.services, null, { link: drill('eventsource') }),
      countTable('Event names', d.event_names, null, { link: drill('eventname') }),
      countTable('Error codes', d.error_codes, null, { link: drill('errorcode') }),
      countTable('Principals', d.principals, 'principal'),
      countTable('Source IPs', d.source_ips, 'ip'),
      countTable('Access keys', d.access_keys, 'accesskey'),
      countTable('Accounts', d.accounts, null, { mono: true, link: drill('recipientaccountid') }),
      countTable('Regions', d.regions, null, { link: drill('awsregion') }),
      countTable('User agents', d.user_agents, null, { link: drill('useragent') })));

    const alerts = d.alerts || [];
    root.append(h('section', { class: 'card' },
      h('h3', null, `Alerts that name it (${fmtNum(alerts.length)})`),
      alerts.length ? alertsTable('investigate-alerts', alerts) : empty('none')));

    const calls = d.calls || { columns: [], rows: [] };
    const allCalls = callsSql(subjectKind, subjectValue);
    root.append(h('section', { class: 'card' },
      h('h3', null, `Calls (newest ${fmtNum((calls.rows || []).length)})`,
        allCalls && d.events ? [' ', h('a', { class: 'h-link', id: 'investigate-sql', href: sqlUrl(allCalls) }, 'open in SQL →')] : null),
      dataTable('investigate-calls', calls.columns || [], calls.rows || [])));
  }

  // ------------------------------------------------------------------ SQL

  async function pageSql(ctx) {
    const q = ctx.params.get('q') || '';
    const startOffset = Math.max(0, parseInt(ctx.params.get('offset'), 10) || 0);
    const root = ctx.root;
    const S = { run: 0, id: null, running: false, cancel: false, sql: '', offset: 0, result: null };
    ctx.manualReady = true; // set when the schema and any query are done

    const editor = h('textarea', { id: 'sql-editor', spellcheck: 'false', rows: '9', placeholder: 'SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC LIMIT 20\n\nCtrl+Enter (⌘+Enter) runs.' });
    editor.value = q;
    const runBtn = h('button', { id: 'sql-run', type: 'button', class: 'primary', title: 'Ctrl+Enter' }, 'Run');
    const cancelBtn = h('button', { id: 'sql-cancel', type: 'button', disabled: true }, 'Cancel');
    const status = h('span', { id: 'sql-status', class: 'muted' });
    const csv = h('a', { id: 'download-csv', class: 'btn', download: '' }, 'CSV');
    const parquet = h('a', { id: 'download-parquet', class: 'btn', download: '' }, 'Parquet');
    const ndjson = h('a', { id: 'download-ndjson', class: 'btn', download: '' }, 'NDJSON');
    const downloads = h('span', { class: 'downloads', hidden: true, title: 'runs the query again and downloads every row' }, 'Download: ', csv, ' ', parquet, ' ', ndjson);
    const errBox = h('div', { id: 'sql-error', class: 'error-box', role: 'alert' });
    const chartBox = h('div', { class: 'sql-chart-box' });
    const results = h('div', { class: 'sql-results-box' });
    const schemaList = h('ul', { id: 'sql-schema', class: 'schema-list' }, h('li', { class: 'muted' }, 'loading…'));
    const schemaFilter = h('input', { id: 'sql-schema-filter', type: 'search', placeholder: 'filter columns', spellcheck: 'false' });

    // Named queries (`serve --queries DIR`): a click puts one in the editor, its
    // parameters' defaults filled in.
    const savedList = h('ul', { id: 'sql-saved', class: 'schema-list' });
    const savedBox = h('div', { id: 'sql-saved-box', hidden: true }, h('h3', null, 'Saved queries'), savedList);

    root.append(h('div', { class: 'sql-layout' },
      h('aside', { class: 'card schema' }, savedBox, h('h3', null, 'Tables'), schemaFilter, schemaList),
      h('div', { class: 'sql-main' },
        h('div', { class: 'card editor-card' }, editor,
          h('div', { class: 'toolbar' }, runBtn, cancelBtn, status, downloads)),
        errBox, chartBox, results)));

    const setStatus = (t) => { status.textContent = t; };
    const showSqlError = (m) => { errBox.textContent = m; errBox.classList.add('visible'); };
    const stale = (run) => run !== S.run || !ctx.alive();
    const cancelRemote = (id) => { api(`/api/queries/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => {}); };
    /** The offset of the last page of a result of `rows` rows (paging never goes past the rows kept). */
    const lastOffset = (rows) => Math.max(0, Math.floor((Math.max(0, rows || 0) - 1) / PAGE_SIZE) * PAGE_SIZE);
    const pageUrl = (o) => `/api/queries/${encodeURIComponent(S.id)}?offset=${o}&limit=${PAGE_SIZE}`;

    async function runQuery(sql, offset) {
      const run = ++S.run;
      if (S.running && S.id) cancelRemote(S.id);
      Object.assign(S, { id: null, running: true, cancel: false, sql, offset, result: null });
      setReady('0');
      errBox.classList.remove('visible');
      errBox.textContent = '';
      chartBox.replaceChildren();
      results.replaceChildren();
      downloads.hidden = true;
      destroyCharts(ctx);
      setStatus('running… starting');
      cancelBtn.disabled = false;
      try {
        // Not tied to the page's signal: when the user leaves while the query is starting,
        // the answer still arrives, and its id is then cancelled (stale below).
        let r = await api('/api/queries', { method: 'POST', json: { sql } });
        if (stale(run)) { if (r && r.id) cancelRemote(r.id); return; }
        S.id = r.id;
        if (S.cancel) cancelRemote(S.id); // Cancel was pressed while the query was starting
        // Polled every ~300 ms while it runs (the server cancels a query nobody polls for 60 s).
        for (;;) {
          r = await api(pageUrl(offset), { signal: ctx.signal });
          if (stale(run)) return;
          if (r.state !== 'running') break;
          setStatus(`running… ${fmtSecs(r.elapsed_ms)} s, ${fmtNum(r.rows || 0)} rows so far`);
          await sleep(300);
          if (stale(run)) return;
        }
        S.running = false;
        cancelBtn.disabled = true;
        const secs = fmtSecs(r.elapsed_ms);
        if (r.state === 'done') {
          // An offset from the URL past the rows kept shows the last page instead.
          if ((r.offset || 0) > 0 && (r.offset || 0) >= (r.rows || 0)) {
            const last = lastOffset(r.rows);
            r = await api(pageUrl(last), { signal: ctx.signal });
            if (stale(run)) return;
            history.replaceState(null, '', sqlUrl(sql, last));
          }
          S.result = r;
          setStatus(r.truncated
            ? `first ${fmtNum(r.rows)} rows kept (the result has more) in ${secs} s`
            : `${fmtNum(r.rows)} rows in ${secs} s`);
          for (const [a, format] of [[csv, 'csv'], [parquet, 'parquet'], [ndjson, 'ndjson']]) {
            a.href = `/api/download?sql=${encodeURIComponent(sql)}&format=${format}`;
          }
          downloads.hidden = false;
          showPage(r);
          await sqlChart(r, run);
        } else if (r.state === 'failed') {
          setStatus(`failed after ${secs} s`);
          showSqlError(r.error || 'The query failed.');
        } else {
          setStatus(`${r.state || 'stopped'} after ${secs} s, ${fmtNum(r.rows || 0)} rows`);
        }
      } catch (e) {
        if (isAbort(e) || stale(run)) return;
        S.running = false;
        cancelBtn.disabled = true;
        // 429: the server runs too many queries already; its message says so.
        setStatus(e.status === 429 ? 'not started' : 'error');
        showSqlError(e.message);
      }
      await schemaP;
      if (!stale(run)) setReady('1');
    }

    function showPage(r) {
      const cols = r.columns || [];
      const page = r.page || [];
      const total = r.rows || 0;
      const off = r.offset || 0;
      const go = (o) => async () => {
        o = Math.max(0, o >= total ? lastOffset(total) : o); // never past the rows kept
        setReady('0');
        try {
          const p = await api(pageUrl(o), { signal: ctx.signal });
          if (!ctx.alive()) return;
          history.replaceState(null, '', sqlUrl(S.sql, o));
          S.offset = o;
          showPage(p);
        } catch (e) {
          if (isAbort(e) || !ctx.alive()) return;
          showSqlError(e.status === 404 ? 'This result is no longer on the server; run the query again.' : e.message);
        }
        if (ctx.alive()) setReady('1');
      };
      const range = page.length ? `rows ${fmtNum(off + 1)}–${fmtNum(off + page.length)} of ${fmtNum(total)}` : `no rows${off ? ' at this offset' : ''} (${fmtNum(total)} in all)`;
      results.replaceChildren(
        r.truncated ? h('p', { class: 'warn', id: 'sql-truncated' }, `Showing the first ${fmtNum(total)} rows (the result has more); the downloads have them all.`) : null,
        h('div', { class: 'pager' },
          h('button', { type: 'button', id: 'sql-prev', disabled: off <= 0, onclick: go(off - PAGE_SIZE) }, '← Prev'),
          h('span', { class: 'muted', id: 'sql-range' }, range),
          h('button', { type: 'button', id: 'sql-next', disabled: off + page.length >= total, onclick: go(off + PAGE_SIZE) }, 'Next →')),
        dataTable('sql-results', cols, page, { 'data-rows': String(total), 'data-offset': String(off) }));
    }

    /** A chart when there is a time column and a numeric column (sorted by time). */
    async function sqlChart(r, run) {
      const cols = r.columns || [];
      const ti = cols.findIndex((c) => c.type === 'timestamp' || c.type === 'date');
      const ni = cols.map((c, i) => (c.type === 'integer' || c.type === 'float') ? i : -1).filter((i) => i >= 0);
      if (ti < 0 || !ni.length || !r.rows) return;
      const MAX = 5000;
      let rows = r.offset === 0 ? (r.page || []).slice() : [];
      const want = Math.min(r.rows, MAX);
      let limit = 1000;
      while (rows.length < want) {
        let p;
        try {
          p = await api(`/api/queries/${encodeURIComponent(S.id)}?offset=${rows.length}&limit=${limit}`, { signal: ctx.signal });
        } catch (e) {
          if (isAbort(e)) throw e;
          if (e.status === 400 && limit > PAGE_SIZE) { limit = PAGE_SIZE; continue; }
          break; // chart the rows we have
        }
        if (stale(run)) return;
        if (!p.page || !p.page.length) break;
        rows = rows.concat(p.page);
      }
      rows = rows.slice(0, want);
      const pts = rows.map((row) => [parseTime(row[ti]), row]).filter((x) => x[0] != null).sort((a, b) => a[0] - b[0]);
      const el = h('div', { id: 'sql-chart', class: 'chart card', 'data-points': String(pts.length) });
      chartBox.replaceChildren(el);
      if (rows.length < r.rows) chartBox.append(h('p', { class: 'muted' }, `The chart shows the first ${fmtNum(rows.length)} of ${fmtNum(r.rows)} rows.`));
      timeChart(ctx, el, pts.map((x) => x[0]), ni.map((i, k) => ({
        label: cols[i].name, color: PALETTE[k % PALETTE.length],
        data: pts.map((x) => (typeof x[1][i] === 'number' ? x[1][i] : null)),
      })), { step: cols[ti].type === 'date' ? 86400 : 60, zero: false, height: 240 });
    }

    function start() {
      const sql = editor.value.trim();
      if (!sql) { editor.focus(); return; }
      const url = sqlUrl(sql, 0);
      if (url !== here()) {
        const sameQ = new URLSearchParams(location.search).get('q') === sql;
        if (sameQ) history.replaceState(null, '', url); else history.pushState(null, '', url);
      }
      runQuery(sql, 0);
    }
    runBtn.addEventListener('click', start);
    editor.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); start(); }
    });
    cancelBtn.addEventListener('click', () => {
      if (!S.running) return;
      cancelBtn.disabled = true;
      S.cancel = true;
      setStatus('running… cancelling');
      if (S.id) cancelRemote(S.id); // the poll loop then sees the "cancelled" state
    });
    // Leaving the page (to another page of the console) cancels a running query.
    ctx.leave.push(() => { if (S.running && S.id) cancelRemote(S.id); S.run++; });
    // So does leaving the document (closing the tab, a reload, another site): a keepalive
    // DELETE outlives the page (sendBeacon can only POST). A page restored from the
    // back/forward cache runs the cancelled query again.
    let hideCancelled = false;
    const onPageHide = () => {
      if (!S.running || !S.id || !ctx.alive()) return;
      hideCancelled = true;
      try {
        fetch(`/api/queries/${encodeURIComponent(S.id)}`, { method: 'DELETE', keepalive: true, credentials: 'same-origin' }).catch(() => {});
      } catch (_) { /* the page is going away anyway */ }
    };
    const onPageShow = (e) => {
      if (!e.persisted || !hideCancelled || !ctx.alive()) return;
      hideCancelled = false;
      runQuery(S.sql, S.offset);
    };
    window.addEventListener('pagehide', onPageHide);
    window.addEventListener('pageshow', onPageShow);
    ctx.leave.push(() => {
      window.removeEventListener('pagehide', onPageHide);
      window.removeEventListener('pageshow', onPageShow);
    });

    // Schema: tables and views with their columns; a click inserts a name.
    const insert = (name) => {
      editor.focus();
      editor.setRangeText(name, editor.selectionStart, editor.selectionEnd, 'end');
    };
    schemaFilter.addEventListener('input', () => {
      const f = schemaFilter.value.trim().toLowerCase();
      for (const t of schemaList.querySelectorAll('li.tbl')) {
        let any = false;
        for (const c of t.querySelectorAll('li.col')) {
          const show = !f || c.dataset.name.toLowerCase().includes(f);
          c.hidden = !show;
          any = any || show;
        }
        t.hidden = !!f && !any && !t.dataset.name.toLowerCase().includes(f);
        if (f && any) $('details', t).open = true;
      }
    });
    const savedP = api('/api/saved', { signal: ctx.signal }).then((s) => {
      const queries = (s && s.queries) || [];
      if (!s || !s.dir) return;
      savedBox.hidden = false;
      const params = (q) => q.params.map((p) => (p.default === null ? `${p.name}=?` : `${p.name}=${p.default}`)).join(' ');
      savedList.replaceChildren(
        ...queries.map((q) => h('li', { class: 'saved', 'data-name': q.name },
          h('button', { type: 'button', class: 'colname mono', title: q.description || q.name, onclick: () => {
            editor.value = q.bound || q.sql;
            editor.focus();
          } }, q.name),
          q.params.length ? h('span', { class: 'type' }, params(q)) : null,
          q.description ? h('p', { class: 'muted desc' }, q.description) : null)),
        ...((s.problems || []).map((p) => h('li', { class: 'warn' }, p))));
      if (!queries.length && !(s.problems || []).length) savedList.replaceChildren(h('li', { class: 'muted' }, `no .sql files in ${s.dir}`));
    }, (e) => {
      if (!isAbort(e)) { savedBox.hidden = false; savedList.replaceChildren(h('li', { class: 'warn' }, `saved queries: ${e.message}`)); }
    });
    const schemaP = api('/api/schema', { signal: ctx.signal }).then((s) => {
      const tables = (s && s.tables) || [];
      schemaList.replaceChildren(...tables.map((t, i) => h('li', { class: 'tbl', 'data-name': t.name },
        h('details', { open: i === 0 },
          h('summary', { title: t.description || null },
            h('span', { class: 'mono tname' }, t.name), ' ', h('span', { class: `kind kind-${t.kind}` }, t.kind),
            h('button', { type: 'button', class: 'ins', title: `insert ${t.name}`, onclick: (e) => { e.preventDefault(); insert(t.name); } }, '+')),
          t.description ? h('p', { class: 'muted desc' }, t.description) : null,
          h('ul', { class: 'cols' }, (t.columns || []).map((c) => h('li', { class: 'col', 'data-name': c.name },
            h('button', { type: 'button', class: 'colname mono', title: `insert ${c.name}`, onclick: () => insert(c.name) }, c.name),
            h('span', { class: 'type' }, c.type))))))));
      if (!tables.length) schemaList.replaceChildren(h('li', { class: 'muted' }, 'no tables'));
    }, (e) => {
      if (!isAbort(e)) schemaList.replaceChildren(h('li', { class: 'warn' }, `schema: ${e.message}`));
    });

    ctx.after.push(async () => {
      if (q.trim()) {
        await runQuery(q.trim(), startOffset);
      } else {
        setStatus('ready');
        editor.focus();
        await schemaP;
        await savedP;
        if (ctx.alive()) setReady('1');
      }
    });
  }

  function destroyCharts(ctx) {
    for (const c of ctx.charts) c.u.destroy();
    ctx.charts.length = 0;
  }

  // ----------------------------------------------------------------- boot

  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
    let url;
    try { url = new URL(a.href, location.href); } catch (_) { return; } // the browser deals with it
    if (url.origin !== location.origin || /^\/(api|assets)(\/|$)/.test(url.pathname)) return;
    e.preventDefault();
    typingUrl = null;
    navigate(url.pathname + url.search);
  });
  // Long cells are clipped; a click shows them whole.
  main.addEventListener('click', (e) => {
    const td = e.target.closest('td.clip');
    if (td && !e.target.closest('a')) td.classList.toggle('expanded');
  });
  window.addEventListener('popstate', () => { typingUrl = null; route(); });
  let resizeFrame = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(resizeCharts);
  });

  // A "?token=" that signed this browser in (the server set a cookie) must not stay in
  // URLs that get shared.
  const sp = new URLSearchParams(location.search);
  if (sp.has('token')) {
    sp.delete('token');
    history.replaceState(null, '', location.pathname + (sp.toString() ? '?' + sp : '') + location.hash);
  }
  try {
    const lake = sessionStorage.getItem('trailhouse.lake');
    if (lake) { $('#lake').textContent = lake; $('#lake').title = `Lake: ${lake}`; }
  } catch (_) { /* storage off */ }
  route();
})();
