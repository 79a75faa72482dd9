// trailhouse console: a small single-page UI over the JSON API in console/API.md.
// Plain JavaScript, no framework, no build step. Every DOM text goes through
// textContent / createElement (never innerHTML with data). Charts use uPlot.
'use strict';

(() => {
  // ---------------------------------------------------------------- helpers

  const NF = new Intl.NumberFormat('en-US');
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const STATES = ['open', 'acknowledged', 'closed'];
  const KINDS = [['principal', 'Identity'], ['ip', 'Source IP'], ['accesskey', 'Access key'], ['resource', 'Resource ARN'], ['account', 'Account']];
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
  /** A time as "2026-11-02 17:45" (UTC), the exact time and how long ago as tooltip. */
  const shortTime = (s) => (s ? h('time', { class: 'short', datetime: s, title: `${s} (${relTime(s)})` }, String(s).replace('T', ' ').slice(0, 16)) : h('span', { class: 'muted' }, '–'));
  const sevBadge = (s) => h('span', { class: `badge sev sev-${SEVERITIES.includes(s) ? s : 'other'}` }, s || '?');
  const stateBadge = (s) => h('span', { class: `badge state state-${STATES.includes(s) ? s : 'other'}` }, s || '?');
  const empty = (text) => h('p', { class: 'muted empty' }, text);
  const safeUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);

  // --------------------------------------------------- investigation links

  /**
   * The context a pivot keeps: on an alert's page, the alert's account and the day around
   * it (set by that page, cleared on every navigation), so an IP, key or resource opens on
   * the alert's account and time instead of everything everywhere.
   */
  let pivotContext = null;
  const invHref = (kind, value, context = pivotContext) => {
    const p = { kind, value };
    if (context) for (const k of ['account', 'from', 'to']) if (context[k]) p[k] = context[k];
    return '/investigate?' + new URLSearchParams(p);
  };
  const isoSecs = (t) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
  /** An alert's pivot context: its account (when it names one) and 12 hours either side of it. */
  function alertContext(a) {
    const accounts = Array.isArray(a.accounts) ? a.accounts : [];
    const f = parseTime(a.first_seen), l = parseTime(a.last_seen);
    return { account: accounts.length === 1 ? String(accounts[0]) : null, from: f == null ? null : isoSecs(f - 43200), to: l == null ? null : isoSecs(l + 43200) };
  }
  /**
   * An identity shown short (its name, and its account) but linked exactly: the full
   * principal ARN (a role session's assumed-role ARN) investigated with the context given.
   */
  function identityLink(a, context) {
    const full = a.full_principal || a.identity;
    const short = a.principal || full;
    if (!short) return h('span', { class: 'muted' }, '–');
    const exact = typeof full === 'string' && full.startsWith('arn:');
    const acct = exact ? full.split(':')[4] : null;
    return h('a', { class: 'mono inv identity', href: exact ? invHref('principal', full, context) : invHref('principal', short, context), title: `Investigate ${exact ? full : short}`, 'data-principal': exact ? full : short },
      breakable(short), acct && !String(short).includes(acct) ? h('span', { class: 'acct' }, ` @${acct}`) : null);
  }
  /** The first `max` of a list, the rest counted ("+3") with the whole list as tooltip. */
  function clipList(items, render, max = 2) {
    if (!Array.isArray(items) || !items.length) return h('span', { class: 'muted' }, '–');
    const shown = joinNodes(items.slice(0, max).map((x) => render(String(x))));
    return items.length > max ? [shown, h('span', { class: 'more muted', title: items.join(', ') }, ` +${items.length - max}`)] : shown;
  }
  /** Text with line-break opportunities after ':' and '/' (ARNs); textContent is unchanged. */
  const breakable = (s) => s.split(/(?<=[:/])/).flatMap((part, i) => (i ? [h('wbr'), part] : [part]));
  const invLink = (kind, value, context) => h('a', { class: 'mono inv', href: invHref(kind, value, context === undefined ? pivotContext : context), title: `Investigate ${kind} ${value}` }, breakable(value));

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
  const listLinks = (kind, items, context) => (Array.isArray(items) && items.length ? joinNodes(items.map((v) => (kind ? invLink(kind, String(v), context) : h('span', { class: 'mono' }, String(v))))) : h('span', { class: 'muted' }, '–'));

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
      case 'principal': return String(value).startsWith('arn:')
        ? `(useridentity.arn = ${v} OR useridentity.sessioncontext.sessionissuer.arn = ${v})`
        : `principal(useridentity) = ${v}`;
      case 'ip': return `sourceipaddress = ${v}`;
      case 'accesskey': return `useridentity.accesskeyid = ${v}`;
      case 'account': return `(recipientaccountid = ${v} OR useridentity.accountid = ${v})`;
      case 'resource': return `(strpos(requestparameters, ${sqlString(JSON.stringify(String(value)))}) > 0${resourceByName(value)} OR eventid IN (SELECT eventid FROM (SELECT eventid, unnest(resources) AS r FROM cloudtrail WHERE resources IS NOT NULL) WHERE get_field(r, 'arn') = ${v}))`;
      default: return null;
    }
  }
  /** As the server's: a call of an ARN's own service in its account naming the resource by its name alone. */
  function resourceByName(arn) {
    const parts = String(arn).split(':');
    if (parts.length < 6) return '';
    const [, , service, , account] = parts;
    const resource = parts.slice(5).join(':');
    const name = resource.split(/[/:]/).pop();
    if (!service || !account || !name) return '';
    return ` OR (eventsource = ${sqlString(service + '.amazonaws.com')} AND recipientaccountid = ${sqlString(account)} AND strpos(requestparameters, ${sqlString(JSON.stringify(name))}) > 0)`;
  }
  /**
   * The subject's calls (the same columns as the investigation's), optionally where column
   * = value, within scope ({account, window: {from, to}}) as the page shows them.
   */
  function callsSql(kind, value, column, columnValue, scope = {}) {
    const subject = subjectCondition(kind, value);
    if (!subject) return null;
    let where = column ? `${subject} AND ${column} = ${sqlString(columnValue)}` : subject;
    if (scope.account) where += ` AND recipientaccountid = ${sqlString(scope.account)}`;
    if (scope.window && scope.window.from) where += ` AND eventtime >= TIMESTAMP ${sqlString(scope.window.from)}`;
    if (scope.window && scope.window.to) where += ` AND eventtime <= TIMESTAMP ${sqlString(scope.window.to)}`;
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

  /** The alert list's columns: [sort key (null: not sortable), header]. */
  const ALERT_COLUMNS = [['severity', 'Severity'], ['state', 'State'], ['title', 'Title'], ['principal', 'Identity'],
    [null, 'Accounts'], [null, 'Source IPs'], ['last_seen', 'Last seen'], ['events', 'Events'], [null, 'Assignee']];

  /**
   * Alerts as a table: each row one line (lists clipped to two, the rest counted), the
   * identity short but linked exactly, every pivot kept to the alert's account and time.
   * sort: {key, dir, href(key, dir)} makes the headers sort links.
   */
  function alertsTable(id, alerts, { selectable = false, sort = null } = {}) {
    const all = selectable ? h('input', { type: 'checkbox', id: `${id}-all`, title: 'select every alert on this page',
      onchange: (e) => { for (const c of e.target.closest('table').querySelectorAll('tbody input.pick')) c.checked = e.target.checked; } }) : null;
    const head = ALERT_COLUMNS.map(([key, label]) => {
      if (!sort || !key) return h('th', null, label);
      const active = sort.key === key;
      const next = active ? (sort.dir === 'asc' ? 'desc' : 'asc') : (['title', 'principal', 'severity', 'state'].includes(key) ? 'asc' : 'desc');
      return h('th', { class: active ? 'sorted' : null, 'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : null },
        h('a', { class: 'sort', href: sort.href(key, next), 'data-sort': key, title: `sort by ${label.toLowerCase()}` }, label, active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''));
    });
    return h('div', { class: 'table-wrap' }, h('table', { id, class: 'data alerts' },
      h('thead', null, h('tr', null, selectable ? h('th', { class: 'pick' }, all) : null, head)),
      h('tbody', null, alerts.map((a) => {
        const context = alertContext(a);
        return h('tr', {
          class: 'clickable', 'data-alert-id': a.alert_id, 'data-severity': a.severity, 'data-state': a.state,
          onclick: (e) => {
            if (e.target.closest('a, button, input, select, textarea') || String(window.getSelection() || '')) return;
            navigate('/alerts/' + encodeURIComponent(a.alert_id));
          },
        },
        selectable ? h('td', { class: 'pick' }, h('input', { type: 'checkbox', class: 'pick', value: a.alert_id })) : null,
        h('td', null, sevBadge(a.severity)),
        h('td', null, stateBadge(a.state)),
        h('td', { class: 'title', title: `${a.title || ''} (${a.rule_id})` }, h('a', { href: '/alerts/' + encodeURIComponent(a.alert_id) }, a.title || a.rule_id || a.alert_id)),
        h('td', { class: 'principal' }, identityLink(a, context)),
        h('td', { class: 'nowrap' }, clipList(a.accounts, (v) => (isAccountId(v) ? accountLink(v) : h('span', { class: 'mono' }, v)), 1)),
        h('td', { class: 'nowrap' }, clipList(a.source_ips, (v) => invLink('ip', v, context), 1)),
        h('td', { class: 'nowrap' }, shortTime(a.last_seen)),
        h('td', { class: 'num' }, fmtNum(a.events)),
        h('td', { class: 'nowrap' }, a.assignee ? h('span', { class: 'assignee' }, a.assignee) : h('span', { class: 'muted' }, '–')));
      }))));
  }

  // ------------------------------------------------------------ time range

  const RANGES = ['6h', '24h', '7d', '30d', '90d', 'all'];
  const RANGE_KEYS = ['range', 'from', 'to'];
  /** The shared time range's parameters of a URL's query (the current one by default). */
  function rangeParams(search = location.search) {
    const sp = new URLSearchParams(search);
    const out = new URLSearchParams();
    for (const k of RANGE_KEYS) if (sp.get(k)) out.set(k, sp.get(k));
    return out;
  }
  /** This page's URL with `changes` to its query (null or '' deletes a parameter). */
  function hereWith(changes) {
    const u = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) { if (v == null || v === '') u.delete(k); else u.set(k, String(v)); }
    return location.pathname + (u.toString() ? '?' + u : '');
  }
  /** A URL of the console with the current time range added, unless it names its own. */
  function withRange(url) {
    const u = new URL(url, location.origin);
    if (!RANGE_KEYS.some((k) => u.searchParams.has(k))) for (const [k, v] of rangeParams()) u.searchParams.set(k, v);
    return u.pathname + u.search;
  }
  /** The picker in the header: one time range for every page, kept in the URL. */
  function renderRangePicker(page) {
    const el = $('#range');
    if (!el) return;
    const sp = new URLSearchParams(location.search);
    const custom = sp.get('from') || sp.get('to');
    const cur = custom ? 'custom' : sp.get('range') || (page === 'overview' ? '24h' : 'all');
    // `all` said outright: the overview's default is a day.
    const href = (r) => hereWith({ from: null, to: null, offset: null, hours: null, range: r });
    const short = (t) => (t ? t.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, '') : '…');
    el.replaceChildren(...RANGES.map((r) => h('a', { href: href(r), id: `range-${r}`, class: r === cur ? 'active' : null,
      title: r === 'all' ? 'all time' : `the ${r} ending at the lake's newest event` }, r)),
    custom ? h('a', { href: href('all'), class: 'active custom', id: 'range-custom', title: 'the window of this link; click to clear it' },
      `${short(sp.get('from'))} → ${short(sp.get('to'))} ✕`) : '');
    el.hidden = page === 'sql' || page === 'notfound' || page === 'alert';
    for (const a of document.querySelectorAll('nav.main-nav a[data-base]')) {
      a.setAttribute('href', a.dataset.base === '/sql' ? '/sql' : withRange(a.dataset.base));
    }
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
    pivotContext = null;
    renderRangePicker(page);
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

  // ------------------------------------------------- who and where

  /**
   * With the server's IP and account files (`serve --geoip-city ... --accounts ...`), every
   * source address shown anywhere gets its country, network and AWS service beside it, and
   * every account id its name: links are annotated as they appear, in batches, from one
   * cache (`GET /api/enrich`).
   */
  const enrichment = { on: false, ips: new Map(), accounts: new Map(), timer: 0, busy: false, again: false };
  const ipOf = (a) => { try { return new URL(a.href).searchParams.get('value'); } catch (_) { return null; } };
  function ipLabel(i) {
    const parts = [];
    if (i.country) parts.push(i.country);
    if (i.asn) parts.push(`AS${i.asn}`);
    if (i.aws_service) parts.push(`AWS ${i.aws_service}${i.aws_region && i.aws_region !== 'GLOBAL' ? ' ' + i.aws_region : ''}`);
    return parts.join(' · ');
  }
  async function annotate() {
    if (!enrichment.on) return;
    // One pass at a time; changes meanwhile get another pass after it.
    if (enrichment.busy) { enrichment.again = true; return; }
    enrichment.busy = true;
    try { await annotatePass(); } finally { enrichment.busy = false; }
    if (enrichment.again) { enrichment.again = false; annotate(); }
  }
  async function annotatePass() {
    const ipLinks = [...main.querySelectorAll('a.inv[href*="kind=ip"]:not([data-annotated])')];
    const acctLinks = [...main.querySelectorAll('a.account:not([data-annotated]), a.inv[href*="kind=account"]:not([data-annotated])')];
    const acctOf = (a) => (a.classList.contains('account') ? a.textContent.trim() : ipOf(a));
    if (!ipLinks.length && !acctLinks.length) return;
    const wantIps = [...new Set(ipLinks.map(ipOf).filter((v) => v && !enrichment.ips.has(v)))].slice(0, 500);
    const wantAccts = [...new Set(acctLinks.map(acctOf).filter((v) => v && !enrichment.accounts.has(v)))].slice(0, 500);
    if (wantIps.length || wantAccts.length) {
      try {
        const r = await api('/api/enrich?' + new URLSearchParams({ ips: wantIps.join(','), accounts: wantAccts.join(',') }));
        for (const v of wantIps) enrichment.ips.set(v, (r.ips || {})[v] || null);
        for (const v of wantAccts) enrichment.accounts.set(v, (r.accounts || {})[v] || null);
      } catch (_) { return; /* shown bare */ }
      if (wantIps.length === 500 || wantAccts.length === 500) enrichment.again = true;
    }
    for (const a of ipLinks) {
      if (!enrichment.ips.has(ipOf(a)) || a.dataset.annotated) continue; // beyond this batch: the next pass
      a.dataset.annotated = '1';
      const i = enrichment.ips.get(ipOf(a));
      const label = i && ipLabel(i);
      if (label) a.after(h('span', { class: 'ipinfo', title: [i.city, i.country, i.asn ? `AS${i.asn} ${i.asn_org || ''}` : null, i.aws_service ? `AWS ${i.aws_service} ${i.aws_region || ''}` : null].filter(Boolean).join(' · ') }, ` ${label}`));
    }
    for (const a of acctLinks) {
      if (!enrichment.accounts.has(acctOf(a)) || a.dataset.annotated) continue;
      a.dataset.annotated = '1';
      const acct = enrichment.accounts.get(acctOf(a));
      if (acct && acct.name) a.after(h('span', { class: 'acctname', title: acct.ou ? `OU ${acct.ou}` : acct.name }, ` ${acct.name}`));
    }
  }
  new MutationObserver(() => {
    if (!enrichment.on) return;
    clearTimeout(enrichment.timer);
    enrichment.timer = setTimeout(annotate, 50);
  }).observe(main, { childList: true, subtree: true });

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
    api('/api/info').then((d) => {
      setLake(d && d.lake);
      const e = (d && d.enrichment) || {};
      enrichment.on = !!(e.city || e.asn || e.aws_ranges || e.accounts);
      if (enrichment.on) annotate();
    }, () => { /* the header just stays empty */ });
  }

  // ------------------------------------------------------------- overview

  async function pageOverview(ctx) {
    const root = ctx.root;
    const range = rangeParams();
    // An old link's ?hours= still works; the header's picker writes range=.
    if (!range.toString() && ctx.params.get('hours')) range.set('hours', ctx.params.get('hours'));
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Overview')));

    const d = await ctx.api('/api/overview?' + range);
    setLake(d.lake);
    const fr = d.freshness || {};
    const totals = d.alert_totals || [];
    const w = d.window || {};
    const rangeQs = rangeParams();

    // Attention first: open alerts by severity in this range, each a link to that list.
    const open = d.open_by_severity || [];
    const openTotal = open.reduce((n, x) => n + (x.alerts || 0), 0);
    root.append(h('section', { class: 'card', id: 'open-alerts' },
      h('h2', null, 'Open alerts ', h('span', { class: 'muted h-note' }, `(${fmtNum(openTotal)} whose time meets this window; delivered ones)`)),
      h('div', { class: 'tiles' }, open.map((x) => {
        const qs = new URLSearchParams({ state: 'open', severity: x.severity });
        for (const [k, v] of rangeQs) qs.set(k, v);
        return h('a', { class: `tile sev-tile tile-${x.severity}${x.alerts ? '' : ' zero'}`, id: `open-${x.severity}`, href: '/alerts?' + qs, 'data-alerts': String(x.alerts || 0) },
          h('span', { class: 'tile-n num' }, fmtNum(x.alerts || 0)), h('span', { class: 'tile-label' }, x.severity));
      }))));

    root.append(h('p', { class: 'muted window' },
      'Window: ', timeEl(w.from), ' → ', timeEl(w.to), ` (${fmtNum(w.hours)} h)`));
    root.append(h('div', { class: 'stats' },
      stat('Events', fmtNum(d.events)),
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
      h('h2', null, 'Alerts by severity, per day ', h('span', { class: 'muted h-note' }, '(all time, every state: the lake\'s whole record)')),
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

  const REASONS = [['true_positive', 'true positive'], ['benign', 'benign'], ['duplicate', 'duplicate'], ['tuning_needed', 'tuning needed']];
  const GROUPINGS = [['', 'none'], ['rule', 'rule'], ['identity', 'identity'], ['account', 'account']];
  /** The list filter a group stands for. */
  const GROUP_FILTER = { rule: 'rule', identity: 'identity', account: 'account' };
  const ALERT_FILTERS = ['severity', 'rule', 'account', 'principal', 'identity', 'state', 'assignee'];
  /** The analyst's name, as they gave it once in this browser (for the audit trail). */
  const analyst = {
    get: () => { try { return localStorage.getItem('trailhouse.analyst') || ''; } catch (_) { return ''; } },
    set: (v) => { try { localStorage.setItem('trailhouse.analyst', v); } catch (_) { /* storage off */ } },
  };
  const youInput = (id) => {
    const el = h('input', { id, type: 'text', value: analyst.get(), placeholder: 'your name (audit trail)', spellcheck: 'false', autocomplete: 'off', class: 'you' });
    el.addEventListener('change', () => analyst.set(el.value.trim()));
    return el;
  };

  async function pageAlerts(ctx) {
    const p = ctx.params;
    const f = {};
    for (const k of ALERT_FILTERS) f[k] = p.get(k) || '';
    const group = GROUP_FILTER[p.get('group')] ? p.get('group') : '';
    const sort = p.get('sort') || 'attention';
    const dir = p.get('dir') || '';
    const offset = Math.max(0, parseInt(p.get('offset'), 10) || 0);
    const root = ctx.root;

    const select = (id, label, values, value) => h('label', null, label,
      h('select', { id, name: id.slice(7), value }, h('option', { value: '' }, 'any'),
        [...new Set([...values, ...(value ? [value] : [])])].map((v) => h('option', { value: v }, v))));
    const text = (id, label, value, ph) => h('label', null, label, h('input', { id, name: id.slice(7), type: 'search', value, placeholder: ph, spellcheck: 'false', autocomplete: 'off' }));

    const form = h('form', { class: 'filters', id: 'alert-filters' },
      select('filter-severity', 'Severity', SEVERITIES, f.severity),
      select('filter-state', 'State', [...STATES, 'unresolved'], f.state),
      select('filter-rule', 'Rule', [], f.rule),
      text('filter-account', 'Account', f.account, '111122223333'),
      text('filter-principal', 'Identity', f.principal, 'arn:aws:iam::111122223333:user/alice or alice'),
      text('filter-assignee', 'Assignee', f.assignee, 'name, or none'),
      h('label', null, 'Group by', h('select', { id: 'filter-group', name: 'group', value: group }, GROUPINGS.map(([v, l]) => h('option', { value: v }, l)))),
      f.identity ? h('input', { type: 'hidden', name: 'identity', value: f.identity }) : null,
      h('button', { type: 'submit' }, 'Apply'),
      h('a', { href: withRange('/alerts'), class: 'clear' }, 'clear'));
    const countEl = h('span', { class: 'muted count', id: 'alerts-count' });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Alerts'), countEl), form);

    /** The list's URL with these changes, the time range kept. */
    const urlWith = hereWith;
    let timer = null;
    const apply = (typing) => {
      clearTimeout(timer);
      const changes = { offset: null };
      for (const el of form.querySelectorAll('select, input')) if (el.name) changes[el.name] = el.value.trim();
      const url = urlWith(changes);
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

    // The filter as the API takes it (also the body of a bulk change by filter).
    const filter = {};
    for (const [k, v] of Object.entries(f)) if (v) filter[k] = v;
    for (const [k, v] of rangeParams()) filter[k] = v;
    const qs = new URLSearchParams(filter);
    const fill = (sel, values) => {
      const cur = sel.value;
      sel.replaceChildren(h('option', { value: '' }, 'any'), ...[...new Set([...values, ...(cur ? [cur] : [])])].map((v) => h('option', { value: v }, v)));
      sel.value = cur;
    };
    const proposal = takeProposal();
    if (proposal) root.append(proposal);

    if (group) {
      const gq = new URLSearchParams(qs);
      gq.set('by', group);
      const [g, d] = await Promise.all([ctx.api('/api/alerts/groups?' + gq), ctx.api('/api/alerts?' + new URLSearchParams({ ...filter, limit: '1' }))]);
      fill($('#filter-rule', form), d.rules || []);
      const groups = g.groups || [];
      const total = groups.reduce((n, x) => n + (x.alerts || 0), 0);
      countEl.textContent = `${fmtNum(total)} alert${total === 1 ? '' : 's'} in ${fmtNum(groups.length)} group${groups.length === 1 ? '' : 's'} by ${group}`;
      root.append(bulkBar(ctx, { mode: 'groups', group, filter, tableId: 'groups-table' }));
      root.append(groupsTable(groups, group, urlWith));
      if (!groups.length) root.append(empty('No alerts match these filters.'));
      return;
    }

    qs.set('sort', sort);
    if (dir) qs.set('dir', dir);
    qs.set('limit', String(PAGE_SIZE));
    qs.set('offset', String(offset));
    const d = await ctx.api('/api/alerts?' + qs);
    fill($('#filter-severity', form), d.severities || SEVERITIES);
    fill($('#filter-rule', form), d.rules || []);

    const alerts = d.alerts || [];
    const total = d.total || 0;
    countEl.textContent = `${fmtNum(total)} alert${total === 1 ? '' : 's'}${sort === 'attention' ? ', open and most severe first' : ''}`;
    // Incidents first: an identity's alerts as one story, highest score first.
    const filtered = Object.values(f).some(Boolean) || (rangeParams().toString() && rangeParams().get('range') !== 'all');
    if (!offset && !filtered) {
      const inc = await ctx.api('/api/incidents?limit=10');
      root.append(incidentsSection(inc.incidents || [], inc.total || 0));
    }
    const pageHref = (o) => urlWith({ offset: o || null });
    const sortSpec = { key: sort === 'attention' ? null : sort, dir: d.dir || dir || 'desc', href: (key, next) => urlWith({ sort: key, dir: next, offset: null }) };
    root.append(h('div', { class: 'list-head' }, h('h2', null, 'Alerts'),
      sort !== 'attention' ? h('a', { href: urlWith({ sort: null, dir: null, offset: null }), id: 'sort-attention', class: 'h-link' }, 'attention order') : null,
      pager(total, offset, alerts.length, pageHref, 'top')));
    root.append(bulkBar(ctx, { mode: 'alerts', filter, total, tableId: 'alerts-table', rule: f.rule }));
    root.append(alertsTable('alerts-table', alerts, { selectable: true, sort: sortSpec }));
    const nd = d.not_delivered || [];
    if (nd.length) {
      root.append(h('div', { class: 'not-delivered', id: 'not-delivered' },
        h('span', { class: 'muted' }, 'Recorded but not delivered: '),
        nd.map((r, i) => h('span', null, i ? ', ' : '', h('code', null, r.rule_id),
          ` ${[r.suppressed ? `${fmtNum(r.suppressed)} suppressed by exceptions` : '', r.shadow ? `${fmtNum(r.shadow)} shadow` : ''].filter(Boolean).join(', ')}`))));
    }
    if (!alerts.length) root.append(empty(filtered ? 'No alerts match these filters.' : 'No alerts.'));
    root.append(pager(total, offset, alerts.length, pageHref, 'bottom'));
  }

  /** The alerts in groups: one row per rule, identity or account, worst first; each can be selected for a bulk change. */
  function groupsTable(groups, by, urlWith) {
    const all = h('input', { type: 'checkbox', id: 'groups-table-all', title: 'select every group',
      onchange: (e) => { for (const c of e.target.closest('table').querySelectorAll('tbody input.pick')) c.checked = e.target.checked; } });
    return h('div', { class: 'table-wrap' }, h('table', { id: 'groups-table', class: 'data alerts groups' },
      h('thead', null, h('tr', null, h('th', { class: 'pick' }, all), ['Worst', by === 'rule' ? 'Rule' : by === 'identity' ? 'Identity' : 'Account', 'Alerts', 'Open', 'Last seen', ''].map((c) => h('th', null, c)))),
      h('tbody', null, groups.map((g) => {
        const show = urlWith({ group: null, [GROUP_FILTER[by]]: g.key, offset: null });
        const label = by === 'identity' ? identityLink({ principal: g.label, full_principal: g.key }, null)
          : by === 'account' ? accountLink(String(g.key))
            : h('a', { href: show }, g.label || g.key, ' ', h('span', { class: 'muted mono' }, g.key));
        return h('tr', { 'data-group': g.key, 'data-alerts': String(g.alerts) },
          h('td', { class: 'pick' }, h('input', { type: 'checkbox', class: 'pick', value: g.key, 'data-alerts': String(g.alerts) })),
          h('td', null, sevBadge(g.severity)),
          h('td', { class: 'title' }, label),
          h('td', { class: 'num' }, fmtNum(g.alerts)),
          h('td', { class: 'num' }, fmtNum(g.open)),
          h('td', { class: 'nowrap' }, timeEl(g.last_seen)),
          h('td', null, h('a', { href: show, class: 'show-group' }, 'show →')));
      }))));
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
      h('td', { class: 'principal' }, i.principal || i.identity ? identityLink({ principal: i.principal || i.identity, full_principal: i.identity }, null) : h('span', { class: 'muted' }, '–')),
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

  /** A reason select (closing) with an empty first choice. */
  const reasonSelect = (id) => h('select', { id, title: 'why it was closed' }, h('option', { value: '' }, 'reason…'), REASONS.map(([v, l]) => h('option', { value: v }, l)));

  /**
   * Acknowledge, close (with one note and a reason) or assign many alerts at once: the
   * selected rows, every alert the filter matches (not just this page), or the selected
   * groups (each group as its filter). One audit row per alert.
   */
  function bulkBar(ctx, opts) {
    const note = h('input', { id: 'bulk-note', type: 'text', placeholder: 'note (needed to close)', spellcheck: 'false' });
    const reason = reasonSelect('bulk-reason');
    const assignee = h('input', { id: 'bulk-assignee', type: 'text', placeholder: 'assign to', spellcheck: 'false', class: 'short' });
    const you = youInput('bulk-by');
    const status = h('span', { id: 'bulk-status', class: 'muted' });
    const everything = opts.mode === 'alerts' && opts.total > 0
      ? h('label', { class: 'inline', title: 'every alert these filters and this time range match, on every page' },
        h('input', { type: 'checkbox', id: 'bulk-all' }), ` all ${fmtNum(opts.total)} matching`) : null;
    const act = async (state) => {
      const picked = [...document.querySelectorAll(`#${opts.tableId} tbody input.pick:checked`)];
      const all = everything && $('#bulk-all', everything).checked;
      const common = { state, note: note.value, by: you.value.trim() };
      if (reason.value) common.reason = reason.value;
      if (assignee.value.trim() || assignee.dataset.touched) common.assignee = assignee.value.trim();
      if (state !== 'closed') delete common.reason;
      let requests;
      if (opts.mode === 'groups') {
        if (!picked.length) { status.textContent = 'Select groups first.'; return; }
        requests = picked.map((c) => ({ ...common, filter: { ...opts.filter, [GROUP_FILTER[opts.group]]: c.value } }));
      } else if (all) {
        requests = [{ ...common, filter: opts.filter }];
      } else {
        if (!picked.length) { status.textContent = 'Select alerts first (or tick "all matching").'; return; }
        requests = [{ ...common, ids: picked.map((c) => c.value) }];
      }
      analyst.set(you.value.trim());
      status.textContent = 'saving…';
      try {
        let changed = 0;
        for (const r of requests) changed += (await api('/api/alerts/triage', { method: 'POST', json: r })).changed || 0;
        const verb = state === 'closed' ? 'Closed' : state === 'acknowledged' ? 'Acknowledged' : 'Reopened';
        status.textContent = `${verb} ${fmtNum(changed)}.`;
        // Closed as benign: offer the exception that would keep these quiet (one rule only).
        const rule = opts.mode === 'groups' && opts.group === 'rule' && picked.length === 1 ? picked[0].value : opts.rule;
        if (state === 'closed' && common.reason === 'benign' && rule) {
          const row = { rule_id: rule };
          if (opts.filter.identity) row.identity = opts.filter.identity;
          else if (opts.filter.principal) row.principal = opts.filter.principal;
          if (opts.filter.account) row.accounts = [opts.filter.account];
          if (opts.mode === 'groups' && opts.group === 'identity' && picked.length === 1) row.identity = picked[0].value;
          if (opts.mode === 'groups' && opts.group === 'account' && picked.length === 1) row.accounts = [picked[0].value];
          keepProposal({ row, reason: note.value.trim(), changed });
        }
        navigate(here(), { replace: true });
      } catch (e) {
        status.textContent = e.message || String(e);
      }
    };
    assignee.addEventListener('input', () => { assignee.dataset.touched = '1'; });
    return h('div', { class: 'bulk', id: 'bulk-bar' },
      h('button', { type: 'button', id: 'bulk-ack', onclick: () => act('acknowledged') }, 'Acknowledge'),
      h('button', { type: 'button', id: 'bulk-close', onclick: () => act('closed') }, 'Close'),
      h('button', { type: 'button', id: 'bulk-reopen', onclick: () => act('open') }, 'Reopen'),
      opts.mode === 'groups' ? h('span', { class: 'muted' }, 'selected groups (every alert in each)') : [h('span', { class: 'muted' }, 'selected'), everything],
      reason, note, assignee, you, status);
  }

  /** A bulk close's exception proposal, shown once on the page the change reloads. */
  let pendingProposal = null;
  const keepProposal = (p) => { pendingProposal = p; };
  function takeProposal() {
    const p = pendingProposal;
    pendingProposal = null;
    if (!p) return null;
    return h('section', { class: 'card', id: 'bulk-proposal' },
      h('p', null, `Closed ${fmtNum(p.changed)} as benign.`), exceptionProposal(p.row, p.reason));
  }

  /** Prev/next links for limit/offset paging (where: top or bottom, for the ids). */
  function pager(total, offset, shown, hrefFor, where = 'bottom', size = PAGE_SIZE) {
    const sfx = where === 'top' ? '-top' : '';
    const prev = offset > 0 ? h('a', { href: hrefFor(Math.max(0, offset - size)), class: 'btn', id: `page-prev${sfx}` }, '← Prev') : h('span', { class: 'btn disabled' }, '← Prev');
    const next = offset + shown < total ? h('a', { href: hrefFor(offset + size), class: 'btn', id: `page-next${sfx}` }, 'Next →') : h('span', { class: 'btn disabled' }, 'Next →');
    const range = shown ? `${fmtNum(offset + 1)}–${fmtNum(offset + shown)} of ${fmtNum(total)}` : `0 of ${fmtNum(total)}`;
    return h('div', { class: `pager pager-${where}` }, prev, h('span', { class: 'muted' }, range), next);
  }

  // ---------------------------------------------------------- alert page

  /** A JSON text (request parameters, response elements) pretty-printed, or the text as is. */
  function prettyJson(v) {
    if (v == null || v === '') return h('span', { class: 'muted' }, 'none');
    let text = v;
    if (typeof v === 'string') {
      try { text = JSON.stringify(JSON.parse(v), null, 2); } catch (_) { text = v; }
    } else {
      text = JSON.stringify(v, null, 2);
    }
    return h('pre', { class: 'json' }, text);
  }

  /** The dedup key's `column=value` pairs. */
  const keyPairs = (key) => String(key || '').split(',').map((kv) => kv.split('=')).filter((x) => x.length >= 2 && x[0]).map(([k, ...v]) => [k, v.join('=')]);

  async function pageAlert(ctx, id) {
    const root = ctx.root;
    root.append(h('a', { href: withRange('/alerts'), class: 'back' }, '← Alerts'));
    const d = await ctx.api('/api/alerts/' + encodeURIComponent(id));
    const a = d.alert || {};
    const rule = d.rule;
    const context = alertContext(a);
    pivotContext = context; // every pivot on this page keeps the alert's account and time
    const triage = d.triage || { state: 'open', history: [] };
    const headState = stateBadge(triage.state || 'open');
    const headAssignee = h('span', { class: 'muted assignee', id: 'alert-assignee' }, triage.assignee ? `assigned to ${triage.assignee}` : '');

    root.append(h('div', { class: 'page-head alert-head' },
      h('h1', null, sevBadge(a.severity), ' ', a.title || (rule && rule.title) || a.rule_id || id, ' ', headState, ' ', headAssignee),
      h('div', { class: 'alert-line' },
        h('span', { class: 'who' }, identityLink(a, context)),
        h('span', null, h('span', { class: 'muted' }, 'accounts '), accountLinks(a.accounts)),
        h('span', null, h('span', { class: 'muted' }, 'from '), listLinks('ip', a.source_ips, context)),
        h('span', null, timeEl(a.first_seen), a.last_seen && a.last_seen !== a.first_seen ? [' → ', timeEl(a.last_seen)] : null),
        h('span', null, `${fmtNum(a.events)} event${a.events === 1 ? '' : 's'}`),
        d.events_sql ? h('a', { href: sqlUrl(d.events_sql), id: 'alert-sql', class: 'h-link' }, 'open in SQL →') : null)));

    // What fired: the rule's key values (highlighted in the events), its threshold, the
    // details it returned; its SQL one click away.
    const pairs = keyPairs(a.dedup_key);
    const highlight = new Set(pairs.map(([k]) => k.toLowerCase()));
    const th = rule && rule.threshold;
    const details = a.details && typeof a.details === 'object' ? a.details : null;
    root.append(h('section', { class: 'card fired', id: 'alert-fired' },
      h('h3', null, 'What fired'),
      h('div', { class: 'fired-line' },
        h('span', { class: 'muted' }, rule ? `${rule.id}: ` : `${a.rule_id || ''}: `),
        pairs.length ? pairs.map(([k, v]) => h('span', { class: 'chip hl', title: 'the alert\'s key' }, h('span', { class: 'muted' }, `${k} = `), textValue(k, v))) : h('span', { class: 'muted' }, 'every matching event'),
        th ? h('span', { class: 'chip threshold', id: 'alert-threshold' }, th.distinct
          ? `${fmtNum(a.events)} events, at least ${fmtNum(th.count)} distinct ${th.distinct} within ${th.window}`
          : `${fmtNum(a.events)} events ≥ threshold ${fmtNum(th.count)} within ${th.window}`) : null,
        details && Object.keys(details).length ? Object.entries(details).slice(0, 6).map(([k, v]) => h('span', { class: 'chip detail' }, h('span', { class: 'muted' }, `${k}: `), typeof v === 'object' && v !== null ? JSON.stringify(v) : renderValue(k, v))) : null),
      rule && rule.sql ? h('details', { class: 'rule-sql' }, h('summary', null, rule.sigma ? 'The rule\'s condition (compiled from Sigma)' : 'The rule\'s condition'), h('pre', { class: 'json' }, rule.sql)) : null));

    // The events, each with its request, response and whole record one click away.
    const ev = d.events || { columns: [], rows: [] };
    const cols = ev.columns || [];
    const idx = (n) => cols.findIndex((c) => c.name === n);
    const shown = ['eventtime', 'eventname', 'eventsource', 'principal', 'sourceipaddress', 'recipientaccountid', 'awsregion', 'errorcode', 'accesskeyid', 'useragent'].filter((n) => idx(n) >= 0);
    const raw = d.raw || {};
    const rows = (ev.rows || []).map((r) => {
      const eid = r[idx('eventid')];
      const more = h('tr', { class: 'event-more', hidden: true }, h('td', { colspan: String(shown.length + 1) },
        h('div', { class: 'grid2' },
          h('div', null, h('h4', null, 'Request parameters'), prettyJson(r[idx('requestparameters')])),
          h('div', null, h('h4', null, 'Response elements'), prettyJson(r[idx('responseelements')]),
            r[idx('errormessage')] ? [h('h4', null, 'Error message'), h('p', { class: 'bad' }, r[idx('errormessage')])] : null)),
        h('details', { class: 'raw' }, h('summary', null, 'Whole record (every column)'), prettyJson(raw[eid] || null))));
      const toggle = h('button', { type: 'button', class: 'expand', title: 'request, response and the whole record', 'aria-expanded': 'false',
        onclick: () => { more.hidden = !more.hidden; toggle.textContent = more.hidden ? '▸' : '▾'; toggle.setAttribute('aria-expanded', String(!more.hidden)); } }, '▸');
      const row = h('tr', { 'data-event-id': eid },
        h('td', { class: 'pick' }, toggle),
        shown.map((n) => {
          const td = n === 'principal' && r[idx('arn')]
            ? h('td', null, identityLink({ principal: r[idx('principal')], full_principal: r[idx('arn')] }, context))
            : renderCell(cols[idx(n)], r[idx(n)], { accounts: true });
          if (highlight.has(n) || (n === 'principal' && highlight.has('identity'))) td.classList.add('hl');
          return td;
        }));
      return [row, more];
    });
    root.append(h('section', { class: 'card', id: 'alert-evidence' },
      h('h3', null, `Events (${fmtNum((ev.rows || []).length)}${a.events > (ev.rows || []).length ? ` of ${fmtNum(a.events)}` : ''})`,
        d.events_sql ? h('a', { class: 'h-link', href: sqlUrl(d.events_sql) }, 'open in SQL →') : null),
      h('div', { class: 'table-wrap' }, h('table', { id: 'alert-events', class: 'data' },
        h('thead', null, h('tr', null, h('th', { class: 'pick' }), shown.map((n) => h('th', { class: highlight.has(n) ? 'hl' : null }, n)))),
        h('tbody', null, rows.flat())))));

    // The identity's other activity around it, then the alert's record and its rule; triage beside them.
    const act = d.activity;
    const activity = h('section', { class: 'card', id: 'alert-activity' },
      h('h3', null, 'The identity around it', act ? h('a', { class: 'h-link', href: sqlUrl(act.sql) }, 'its calls in SQL →') : null),
      act ? [
        h('p', { class: 'muted' }, h('span', { class: 'mono' }, breakable(act.principal)), ` · ${fmtNum(act.calls)} calls, ${fmtNum(act.errors)} errors in `, timeEl(act.window && act.window.from), ' → ', timeEl(act.window && act.window.to),
          ' · ', h('a', { href: invHref('principal', act.principal, context) }, 'investigate →')),
        (act.event_names || []).length ? countTable('Event names', (act.event_names || []).map((x) => ({ value: x.eventname, events: x.calls })), null, { id: 'activity-names' }) : empty('no calls'),
      ] : empty('This alert names no identity ARN.'));
    const first = ['principal', 'full_principal', 'identity', 'source_ips', 'accounts', 'regions', 'first_seen', 'last_seen', 'events', 'rule_id', 'dedup_key', 'alert_id'];
    const skip = new Set(['title', 'severity', 'details', 'state', 'event_ids', 'triage', 'note', 'at', 'reason', 'assignee']);
    const keys = [...first.filter((k) => k in a), ...Object.keys(a).filter((k) => !first.includes(k) && !skip.has(k))];
    const fields = h('details', { class: 'card', id: 'alert-fields' },
      h('summary', null, h('h3', { class: 'inline' }, 'The alert\'s record')),
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

    root.append(h('div', { class: 'alert-grid' }, h('div', null, activity, ruleCard, fields),
      triageBox(ctx, id, triage, headState, a, headAssignee)));
  }

  function triageBox(ctx, id, triage, headState, alertRow, headAssignee) {
    const proposal = h('div', { id: 'exception-proposal' });
    const curEl = h('span', { id: 'triage-current', class: 'badge state' });
    const since = h('span', { class: 'muted since' });
    const stateSel = h('select', { id: 'triage-state' }, STATES.map((s) => h('option', { value: s }, s)));
    const reason = reasonSelect('triage-reason');
    const reasonLabel = h('label', null, 'Reason (closing)', reason);
    const assignee = h('input', { id: 'triage-assignee', type: 'text', placeholder: 'nobody', spellcheck: 'false' });
    const you = youInput('triage-by');
    const note = h('textarea', { id: 'triage-note', rows: '3', placeholder: 'What did you find? (a note is required to close)' });
    const save = h('button', { id: 'triage-save', type: 'button', class: 'primary' }, 'Save');
    const msg = h('span', { class: 'muted', id: 'triage-msg' });
    const err = h('div', { id: 'triage-error', class: 'error-box', role: 'alert' });
    const history = h('ol', { id: 'triage-history', class: 'history' });
    const noHistory = empty('Never triaged.');
    const syncReason = () => { reasonLabel.hidden = stateSel.value !== 'closed'; };
    let assigned = '';
    stateSel.addEventListener('change', syncReason);

    function show(t) {
      const state = t.state || 'open';
      curEl.textContent = state;
      curEl.className = `badge state state-${STATES.includes(state) ? state : 'other'}`;
      headState.textContent = state;
      headState.className = curEl.className;
      since.replaceChildren(...(t.at ? [' since ', timeEl(t.at)] : []), ...(t.reason ? [` (${String(t.reason).replace('_', ' ')})`] : []), ...(t.note ? [' — ', h('q', null, t.note)] : []));
      stateSel.value = STATES.includes(state) ? state : 'open';
      assigned = t.assignee || '';
      assignee.value = assigned;
      if (headAssignee) headAssignee.textContent = t.assignee ? `assigned to ${t.assignee}` : '';
      syncReason();
      const hist = t.history || [];
      history.replaceChildren(...hist.map((x) => h('li', null, stateBadge(x.state), ' ', timeEl(x.at),
        x.reason ? h('span', { class: 'reason' }, ` ${String(x.reason).replace('_', ' ')}`) : null,
        x.actor || x.via ? h('span', { class: 'muted actor' }, ` by ${x.actor || 'someone'}${x.via ? ` (${x.via})` : ''}`) : null,
        typeof x.assignee === 'string' ? h('span', { class: 'muted' }, x.assignee ? ` assigned to ${x.assignee}` : ' unassigned') : null,
        x.note ? h('div', { class: 'note' }, x.note) : null)));
      noHistory.hidden = hist.length > 0;
    }
    show(triage);

    save.addEventListener('click', async () => {
      err.classList.remove('visible');
      clearError();
      msg.textContent = 'saving…';
      save.disabled = true;
      setReady('0');
      const body = { state: stateSel.value, note: note.value.trim(), by: you.value.trim() };
      if (assignee.value.trim() !== assigned) body.assignee = assignee.value.trim(); // "" unassigns
      if (stateSel.value === 'closed' && reason.value) body.reason = reason.value;
      analyst.set(you.value.trim());
      try {
        const t = await api(`/api/alerts/${encodeURIComponent(id)}/triage`, { method: 'POST', json: body });
        if (!ctx.alive()) return;
        show(t || {});
        if (stateSel.value === 'closed' && alertRow && (!body.reason || body.reason === 'benign')) proposal.replaceChildren(exceptionProposal(alertRow, note.value.trim()));
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
      h('div', { class: 'row2' }, h('label', null, 'New state', stateSel), reasonLabel),
      h('div', { class: 'row2' }, h('label', null, 'Assignee', assignee), h('label', null, 'You', you)),
      h('label', null, 'Note', note),
      h('div', { class: 'row' }, save, msg),
      err, proposal,
      h('h4', null, 'History (who, when, what)'), history, noHistory);
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

  const countNodes = (n) => 1 + (n.children || []).reduce((k, c) => k + countNodes(c), 0);
  /** Credential chains as nested lists: each key with how it was made, who used it, when and what for. */
  function chainTree(nodes) {
    const short = (s) => String(s).replace('.amazonaws.com', '');
    return h('ul', { class: 'chain' }, nodes.map((n) => h('li', { class: n.subject ? 'subject' : null, 'data-key': n.key },
      n.made ? h('div', { class: 'made muted' }, `${n.made.call} `, n.made.role ? invLink('principal', n.made.role, null) : null,
        n.made.session_name ? ` as ${n.made.session_name}` : '', ' at ', timeEl(n.made.at),
        n.made.account ? [' in ', accountLink(n.made.account)] : null, n.made.source_ip ? [' from ', invLink('ip', n.made.source_ip, null)] : null) : null,
      h('div', { class: 'cred' }, invLink('accesskey', n.key, null), ' ',
        n.identity ? invLink('principal', n.identity, null) : null,
        n.subject ? h('span', { class: 'badge state state-acknowledged' }, 'this one') : null),
      h('div', { class: 'muted used' }, n.calls
        ? [`${fmtNum(n.calls)} call${n.calls === 1 ? '' : 's'}, ${fmtNum(n.errors)} error${n.errors === 1 ? '' : 's'} `, timeEl(n.first_use), ' → ', timeEl(n.last_use), ' · ',
          (n.services || []).slice(0, 4).map(([v, k]) => `${short(v)} ${k}`).join(', '),
          (n.event_names || []).length ? ` · ${(n.event_names || []).slice(0, 5).map(([v]) => v).join(', ')}` : '']
        : 'no calls with it in this window'),
      n.children && n.children.length ? chainTree(n.children) : null)));
  }

  function guessKind(v) {
    v = v.trim();
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || (/^[0-9a-f:]+$/i.test(v) && v.includes(':'))) return 'ip';
    if (/^\d{12}$/.test(v)) return 'account';
    if (ACCESS_KEY_RE.test(v)) return 'accesskey';
    if (v.startsWith('arn:')) return arnKind(v);
    return 'principal';
  }

  async function pageInvestigate(ctx) {
    const value = (ctx.params.get('value') || '').trim();
    const kind = ctx.params.get('kind') || (value ? guessKind(value) : 'principal');
    const account = ctx.params.get('account') || '';
    const offset = Math.max(0, parseInt(ctx.params.get('offset'), 10) || 0);
    const root = ctx.root;

    let kindTouched = !!ctx.params.get('kind');
    const kindSel = h('select', { id: 'investigate-kind', name: 'kind', value: kind, onchange: () => { kindTouched = true; } },
      KINDS.map(([k, label]) => h('option', { value: k }, label)));
    const input = h('input', { id: 'investigate-value', name: 'value', type: 'search', value, required: true, spellcheck: 'false', autocomplete: 'off', placeholder: 'an ARN, access key, IP address, account id or name: arn:aws:iam::111122223333:user/alice, AKIA…, 203.0.113.7, 111122223333, alice' });
    input.addEventListener('input', () => { if (!kindTouched && input.value.trim()) kindSel.value = guessKind(input.value); });
    // Pasted text: the kind follows it (an ARN pasted over a name is an ARN).
    input.addEventListener('paste', () => { kindTouched = false; setTimeout(() => { if (input.value.trim()) kindSel.value = guessKind(input.value); }, 0); });
    const form = h('form', { class: 'filters investigate-form', id: 'investigate-form' },
      h('label', null, 'Kind', kindSel), h('label', { class: 'grow' }, 'Value', input), h('button', { type: 'submit', class: 'primary' }, 'Investigate'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (!v) return;
      const k = kindTouched ? kindSel.value : guessKind(v);
      // A new subject keeps the time range, not the previous one's account.
      navigate(withRange('/investigate?' + new URLSearchParams({ kind: k, value: v })));
    });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Investigate')), form);
    if (!value) {
      root.append(empty('Paste an ARN, an access key id, a source IP, an account id or a name. Every such value elsewhere in the console links here.'));
      ctx.after.push(() => input.focus());
      return;
    }

    const q = new URLSearchParams({ kind, value });
    if (account) q.set('account', account);
    for (const [k, v] of rangeParams()) q.set(k, v);
    if (offset) q.set('offset', String(offset));
    const d = await ctx.api('/api/investigate?' + q);
    const subjectKind = d.kind || kind;
    const subjectValue = d.value == null ? value : String(d.value);
    const scope = h('p', { class: 'muted scope', id: 'investigate-scope' },
      account ? [h('span', { class: 'chip', id: 'investigate-account' }, 'account ', h('span', { class: 'mono' }, account), ' ', h('a', { href: hereWith({ account: null, offset: null }), title: 'every account' }, '✕')), ' '] : null,
      d.window ? ['within ', timeEl(d.window.from), ' → ', timeEl(d.window.to)] : 'all time',
      ' (the header\'s range picker widens it)');

    if (d.ambiguous) {
      root.append(h('section', { class: 'card', id: 'investigate-choices' },
        h('h2', null, h('span', { class: 'mono' }, subjectValue), ' is more than one identity'),
        scope,
        h('p', null, 'Pick one: each is investigated on its own, not mixed with the others.'),
        h('table', { class: 'data' },
          h('thead', null, h('tr', null, ['Identity', 'Account', 'Events', 'Last seen'].map((c) => h('th', null, c)))),
          h('tbody', null, (d.choices || []).map((c) => h('tr', { 'data-arn': c.arn },
            h('td', null, h('a', { class: 'mono inv choice', href: hereWith({ kind: 'principal', value: c.arn, offset: null }) }, breakable(c.arn))),
            h('td', null, accountLink(String(c.account || ''))),
            h('td', { class: 'num' }, fmtNum(c.events)),
            h('td', { class: 'nowrap' }, timeEl(c.last_seen))))))));
      return;
    }

    const errRate = d.events ? ` (${((100 * (d.errors || 0)) / d.events).toFixed(1)}%)` : '';
    const alerts = d.alerts || [];
    const callScope = { account, window: d.window };
    root.append(h('section', { class: 'card', id: 'investigate-summary' },
      h('h2', null, h('span', { class: 'muted' }, (KINDS.find((k) => k[0] === d.kind) || [0, d.kind])[1] + ' '), h('span', { class: 'mono' }, d.value)),
      scope,
      d.events ? null : h('p', { class: 'warn' }, 'No events for this value in this window.'),
      d.truncated ? h('p', { class: 'warn', id: 'investigate-truncated' },
        `More than ${fmtNum(INVESTIGATE_MAX_EVENTS)} events match: the counts, timeline and breakdowns below cover only the newest ${fmtNum(INVESTIGATE_MAX_EVENTS)}. `,
        'The SQL links query every matching event.') : null,
      h('div', { class: 'stats' },
        stat('Events', fmtNum(d.events) + (d.truncated ? '+' : ''), d.truncated ? 'the newest read' : null),
        stat('Errors', fmtNum(d.errors) + errRate, null, d.errors ? 'warn' : null),
        stat('First seen', timeEl(d.first_seen), d.first_seen ? relTime(d.first_seen) : null),
        stat('Last seen', timeEl(d.last_seen), d.last_seen ? relTime(d.last_seen) : null),
        stat('Alerts', h('a', { href: '#investigate-alerts-card', id: 'investigate-alerts-count' }, fmtNum(alerts.length)), null, alerts.length ? 'warn' : null))));

    // The credential chain of a key or an identity: where it came from, what it led to.
    const chainKind = subjectKind === 'accesskey' ? 'accesskey' : subjectKind === 'principal' && subjectValue.startsWith('arn:') ? 'identity' : null;
    if (chainKind && d.events) {
      const cq = new URLSearchParams({ kind: chainKind, value: subjectValue });
      for (const [k, v] of rangeParams()) cq.set(k, v);
      try {
        const c = await ctx.api('/api/chain?' + cq);
        const chains = c.chains || [];
        const nodes = chains.reduce((n, t) => n + countNodes(t), 0);
        if (nodes > 1 || chains.some((t) => t.made)) {
          root.append(h('section', { class: 'card', id: 'investigate-chain' },
            h('h3', null, 'Credential chain', h('span', { class: 'muted h-note' }, ' how it was made and what it led to')),
            chainTree(chains)));
        }
      } catch (e) {
        if (isAbort(e)) throw e;
        root.append(h('section', { class: 'card', id: 'investigate-chain' }, h('h3', null, 'Credential chain'),
          h('p', { class: 'warn' }, `The chain could not be read: ${e.message || e}`)));
      }
    }

    const tl = d.timeline || [];
    const chart = h('div', { id: 'investigate-timeline', class: 'chart', 'data-points': String(tl.length) });
    root.append(h('section', { class: 'card' }, h('h3', null, `Events and errors per ${d.bucket || 'bucket'}`), chart));
    ctx.after.push(() => timeChart(ctx, chart, tl.map((x) => parseTime(x.time)), [
      { label: 'events', data: tl.map((x) => x.events), color: '#5aa9ff', bars: tl.length <= 400 },
      { label: 'errors', data: tl.map((x) => x.errors), color: '#ff4d6d' },
    ], { step: d.bucket === 'day' ? 86400 : 3600, height: 160 }));

    root.append(h('section', { class: 'card', id: 'investigate-alerts-card' },
      h('h3', null, `Alerts (${fmtNum(alerts.length)})`, h('span', { class: 'muted h-note' }, ' that name it or hold its events')),
      alerts.length ? alertsTable('investigate-alerts', alerts) : empty('none')));

    // Values that are not investigations themselves open the subject's calls with that value in SQL.
    const drill = (column) => (v) => {
      const sql = callsSql(subjectKind, subjectValue, column, v, callScope);
      return sql ? { href: sqlUrl(sql), title: `Calls with ${column} = ${v} (SQL)` } : null;
    };
    root.append(h('div', { class: 'grid3' },
      countTable('Services', d.services, null, { link: drill('eventsource') }),
      countTable('Event names', d.event_names, null, { link: drill('eventname') }),
      countTable('Error codes', d.error_codes, null, { link: drill('errorcode') }),
      countTable('Identities', d.principals, 'principal'),
      countTable('Source IPs', d.source_ips, 'ip'),
      countTable('Access keys', d.access_keys, 'accesskey'),
      countTable('Accounts', d.accounts, 'account'),
      countTable('Regions', d.regions, null, { link: drill('awsregion') }),
      countTable('User agents', d.user_agents, null, { link: drill('useragent') }),
      d.countries ? countTable('Countries', d.countries, null, { id: 'investigate-countries' }) : null,
      d.networks ? countTable('Networks (ASN)', d.networks, null, { id: 'investigate-networks' }) : null,
      d.aws_services ? countTable('AWS services (by address)', d.aws_services, null, { id: 'investigate-aws' }) : null));

    const calls = d.calls || { columns: [], rows: [] };
    const size = d.page_size || 500;
    const allCalls = callsSql(subjectKind, subjectValue, null, null, callScope);
    const callsPager = (where) => pager(d.events || 0, d.offset || 0, (calls.rows || []).length, (o) => hereWith({ offset: o || null }), where, size);
    root.append(h('section', { class: 'card', id: 'investigate-calls-card' },
      h('h3', null, `Calls, newest first (${fmtNum(size)} a page)`,
        allCalls && d.events ? [' ', h('a', { class: 'h-link', id: 'investigate-sql', href: sqlUrl(allCalls) }, 'open in SQL →')] : null),
      callsPager('top'),
      dataTable('investigate-calls', calls.columns || [], calls.rows || [], { 'data-offset': String(d.offset || 0) }),
      callsPager('bottom')));
  }

  // ------------------------------------------------------------------ SQL

  const SQL_HISTORY_KEY = 'trailhouse.sql.history';
  const SQL_HISTORY_MAX = 50;
  /** The queries run in this browser, newest first ([{sql, at}]); none when storage is off. */
  function sqlHistory() {
    try {
      const v = JSON.parse(localStorage.getItem(SQL_HISTORY_KEY) || '[]');
      return Array.isArray(v) ? v.filter((x) => x && typeof x.sql === 'string' && x.sql.trim()) : [];
    } catch (_) {
      return []; // storage off, or not JSON
    }
  }
  /** Records a query run: first in the history, once, at most SQL_HISTORY_MAX kept. Returns the history. */
  function rememberSql(sql) {
    const list = [{ sql, at: new Date().toISOString() }].concat(sqlHistory().filter((x) => x.sql !== sql)).slice(0, SQL_HISTORY_MAX);
    try { localStorage.setItem(SQL_HISTORY_KEY, JSON.stringify(list)); } catch (_) { /* storage off or full */ }
    return list;
  }

  /** Words that end a completion: typed whole, the list closes (and Enter is a new line). */
  const SQL_KEYWORDS = new Set(('select from where group by order having limit offset join left right inner outer full cross '
    + 'on using as and or not in is null like ilike between case when then else end with distinct union all except '
    + 'intersect asc desc nulls first last over partition rows range interval true false cast exists values explain analyze').split(' '));
  const COMPLETE_MAX = 12;

  /**
   * The editor's completion candidates from /api/schema: tables and views, columns (struct
   * leaves as a.b; list<struct> leaves are not names SQL takes) and functions, each once.
   */
  function sqlCandidates(schema) {
    const seen = new Set();
    const out = [];
    const add = (value, kind, detail) => {
      if (typeof value !== 'string' || !value) return;
      const lower = value.toLowerCase();
      if (seen.has(lower)) return;
      seen.add(lower);
      out.push({ value, lower, kind, detail, depth: value.split('.').length - 1 });
    };
    const tables = (schema && schema.tables) || [];
    for (const t of tables) add(t.name, t.kind === 'view' ? 'view' : 'table', t.kind);
    for (const t of tables) for (const c of t.columns || []) if (!c.name.includes('[')) add(c.name, 'column', c.type);
    for (const f of (schema && schema.functions) || []) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(f)) add(f, 'function', 'function');
    return out;
  }

  /** Candidates that start with w (shallow names first), then those that contain it. */
  function pickCandidates(pool, w) {
    const pre = [];
    const sub = [];
    for (const c of pool) {
      if (c.lower.startsWith(w)) pre.push(c);
      else if (w.length >= 2 && c.lower.includes(w)) sub.push(c);
    }
    const order = (a, b) => a.depth - b.depth || (a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0);
    return pre.sort(order).concat(sub.sort(order)).slice(0, COMPLETE_MAX);
  }

  /**
   * What completes `word` (letters, digits, _ and .): {from, items}, from being where in the
   * word the text an item replaces starts. After "useridentity." its leaves; after a dot
   * that starts no column name ("t." of an alias), the names that complete what follows it.
   */
  function matchCandidates(cands, word) {
    const w = word.toLowerCase();
    const dot = w.lastIndexOf('.');
    if (dot < 0) return { from: 0, items: pickCandidates(cands, w) };
    const columns = cands.filter((c) => c.kind === 'column');
    const leaves = pickCandidates(columns, w);
    if (leaves.length) return { from: 0, items: leaves };
    return { from: dot + 1, items: pickCandidates(columns, w.slice(dot + 1)) };
  }

  /** Is the end of `text` inside a string literal or a -- comment (where nothing completes)? */
  function inSqlLiteral(text) {
    if ((text.split("'").length - 1) % 2 === 1) return true;
    const line = text.slice(text.lastIndexOf('\n') + 1).replace(/'[^']*'/g, '');
    return line.includes('--');
  }

  /** Where the caret at `pos` is drawn in a textarea: {left, top, height} in pixels from its padding box. */
  function caretCoords(ta, pos) {
    const cs = getComputedStyle(ta);
    const mirror = document.createElement('div');
    for (const p of ['boxSizing', 'width', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft', 'borderTopWidth',
      'borderRightWidth', 'borderBottomWidth', 'borderLeftWidth', 'borderStyle', 'fontFamily', 'fontSize', 'fontWeight',
      'fontStyle', 'lineHeight', 'letterSpacing', 'wordSpacing', 'textTransform', 'textIndent', 'tabSize']) {
      mirror.style[p] = cs[p];
    }
    Object.assign(mirror.style, { position: 'absolute', visibility: 'hidden', top: '0', left: '-9999px', whiteSpace: 'pre-wrap', overflowWrap: 'break-word' });
    mirror.textContent = ta.value.slice(0, pos);
    const mark = document.createElement('span');
    mark.textContent = ta.value.slice(pos) || '.';
    mirror.append(mark);
    document.body.append(mirror);
    const height = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.5;
    const at = { left: mark.offsetLeft - ta.scrollLeft, top: mark.offsetTop - ta.scrollTop, height };
    mirror.remove();
    return at;
  }

  const SQL_GROUPS_MAX = 8;
  const SQL_BARS_MAX = 50;
  /** A bar per row: the number in column ni for the text in column si (a top-N), as DOM bars. */
  function sqlBarChart(cols, rows, si, ni) {
    const value = (row) => (typeof row[ni] === 'number' && Number.isFinite(row[ni]) ? row[ni] : null);
    const max = Math.max(1e-9, ...rows.map((row) => Math.abs(value(row) || 0)));
    return h('div', { id: 'sql-chart', class: 'chart card sql-bars', 'data-kind': 'bars', 'data-series': '1', 'data-points': String(rows.length) },
      h('h3', null, `${cols[ni].name} by ${cols[si].name}`),
      h('table', { class: 'counts' }, h('tbody', null, rows.map((row) => {
        const v = value(row);
        const label = row[si] == null ? h('span', { class: 'muted' }, '(null)') : textValue(cols[si].name, String(row[si]));
        return h('tr', { class: 'sql-bar' },
          h('td', { class: 'val', title: row[si] == null ? null : String(row[si]) }, label),
          h('td', { class: 'bar-cell', title: v == null ? 'null' : String(v) },
            h('span', { class: 'bar' + (v < 0 ? ' neg' : ''), style: `width:${((100 * Math.abs(v || 0)) / max).toFixed(1)}%` }),
            h('span', { class: 'num' }, v == null ? 'null' : fmtNum(v))));
      }))));
  }

  /**
   * One line per text value: series of the number in column ni per distinct time of pts
   * ([[time, row]], ascending), the SQL_GROUPS_MAX largest groups by total and the rest summed
   * as "other", missing points 0. Returns {xs, groups (count of distinct values), series}.
   */
  function sqlGroupSeries(pts, si, ni) {
    const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const key = (row) => (row[si] == null ? '(null)' : String(row[si]));
    const totals = new Map();
    for (const [, row] of pts) totals.set(key(row), (totals.get(key(row)) || 0) + num(row[ni]));
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[0]);
    const top = ranked.slice(0, SQL_GROUPS_MAX);
    const slot = new Map(top.map((g, k) => [g, k]));
    const xs = [...new Set(pts.map((p) => p[0]))];
    const xi = new Map(xs.map((x, i) => [x, i]));
    const labels = ranked.length > top.length ? top.concat(['other']) : top;
    const data = labels.map(() => new Array(xs.length).fill(0));
    for (const [t, row] of pts) {
      const k = slot.has(key(row)) ? slot.get(key(row)) : top.length;
      data[k][xi.get(t)] += num(row[ni]);
    }
    const series = labels.map((label, k) => ({ label, data: data[k], color: k < top.length ? PALETTE[k % PALETTE.length] : '#6b7480' }));
    return { xs, groups: ranked.length, series };
  }

  async function pageSql(ctx) {
    const q = ctx.params.get('q') || '';
    const startOffset = Math.max(0, parseInt(ctx.params.get('offset'), 10) || 0);
    const root = ctx.root;
    const S = { run: 0, id: null, running: false, cancel: false, sql: '', offset: 0, result: null };
    ctx.manualReady = true; // set when the schema and any query are done

    const editor = h('textarea', { id: 'sql-editor', spellcheck: 'false', rows: '9', placeholder: 'SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC LIMIT 20\n\nCtrl+Enter (⌘+Enter) runs. Ctrl+Space completes names; Alt+↑/↓ walks the history.',
      'aria-autocomplete': 'list', 'aria-controls': 'sql-complete' });
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
    // The queries run in this browser (localStorage), newest first: a click puts one in the editor.
    const historyList = h('ul', { id: 'sql-history', class: 'schema-list' });
    const historyBox = h('div', { id: 'sql-history-box' }, h('h3', null, 'History'), historyList);
    // Completion of the name being typed: tables, views, columns, functions.
    const completeList = h('ul', { id: 'sql-complete', role: 'listbox', hidden: true });

    root.append(h('div', { class: 'sql-layout' },
      h('aside', { class: 'card schema' }, savedBox, historyBox, h('h3', null, 'Tables'), schemaFilter, schemaList),
      h('div', { class: 'sql-main' },
        h('div', { class: 'card editor-card' }, editor, completeList,
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
      showHistory(rememberSql(sql));
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
      // Through append(), which skips null (replaceChildren would show it as the text "null").
      results.replaceChildren();
      append(results, [
        r.truncated ? h('p', { class: 'warn', id: 'sql-truncated' }, `Showing the first ${fmtNum(total)} rows (the result has more); the downloads have them all.`) : null,
        h('div', { class: 'pager' },
          h('button', { type: 'button', id: 'sql-prev', disabled: off <= 0, onclick: go(off - PAGE_SIZE) }, '← Prev'),
          h('span', { class: 'muted', id: 'sql-range' }, range),
          h('button', { type: 'button', id: 'sql-next', disabled: off + page.length >= total, onclick: go(off + PAGE_SIZE) }, 'Next →')),
        dataTable('sql-results', cols, page, { 'data-rows': String(total), 'data-offset': String(off) })]);
    }

    /**
     * A chart chosen by the result's shape (data-kind on #sql-chart, data-series the number
     * of series drawn): a time column, one text column and numbers: one line per text value
     * of the first number (the largest SQL_GROUPS_MAX, the rest summed as "other"; "time-groups").
     * A time column and numbers (any other text columns): one line per number ("time"). No time,
     * one text column and numbers in at most SQL_BARS_MAX rows: a bar per row of the first
     * number ("bars", a top-N in the query's order).
     */
    async function sqlChart(r, run) {
      const cols = r.columns || [];
      const ti = cols.findIndex((c) => c.type === 'timestamp' || c.type === 'date');
      const ni = cols.map((c, i) => (c.type === 'integer' || c.type === 'float') ? i : -1).filter((i) => i >= 0);
      const si = cols.map((c, i) => (c.type === 'string' ? i : -1)).filter((i) => i >= 0);
      if (!ni.length || !r.rows) return;
      const kind = ti >= 0 ? (si.length === 1 ? 'time-groups' : 'time') : si.length === 1 && r.rows <= SQL_BARS_MAX ? 'bars' : null;
      if (!kind) return;
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
      if (kind === 'bars') {
        chartBox.replaceChildren(sqlBarChart(cols, rows, si[0], ni[0]));
        return;
      }
      const pts = rows.map((row) => [parseTime(row[ti]), row]).filter((x) => x[0] != null).sort((a, b) => a[0] - b[0]);
      const el = h('div', { id: 'sql-chart', class: 'chart card', 'data-kind': kind, 'data-points': String(pts.length) });
      chartBox.replaceChildren(el);
      if (rows.length < r.rows) chartBox.append(h('p', { class: 'muted' }, `The chart shows the first ${fmtNum(rows.length)} of ${fmtNum(r.rows)} rows.`));
      const opts = { step: cols[ti].type === 'date' ? 86400 : 60, zero: false, height: 240 };
      if (kind === 'time-groups') {
        const g = sqlGroupSeries(pts, si[0], ni[0]);
        el.dataset.series = String(g.series.length);
        chartBox.append(h('p', { class: 'muted', id: 'sql-chart-note' }, `One line per ${cols[si[0]].name}, of ${cols[ni[0]].name}`,
          g.groups > SQL_GROUPS_MAX ? `: the ${SQL_GROUPS_MAX} largest, the other ${fmtNum(g.groups - SQL_GROUPS_MAX)} summed as "other".` : '.'));
        timeChart(ctx, el, g.xs, g.series, { ...opts, zero: true });
        return;
      }
      el.dataset.series = String(ni.length);
      timeChart(ctx, el, pts.map((x) => x[0]), ni.map((i, k) => ({
        label: cols[i].name, color: PALETTE[k % PALETTE.length],
        data: pts.map((x) => (typeof x[1][i] === 'number' ? x[1][i] : null)),
      })), opts);
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

    // History: the list in the aside, and Alt+Up / Alt+Down in the editor (older / newer;
    // past the newest, the text that was there before the walk).
    const walk = { at: -1, draft: '' };
    function showHistory(list = sqlHistory()) {
      historyList.replaceChildren(...list.map((x) => {
        const text = x.sql.trim();
        const first = text.split('\n')[0];
        const line = first.length > 80 ? first.slice(0, 79) + '…' : first + (first === text ? '' : ' …');
        return h('li', { class: 'hist' },
          h('button', { type: 'button', class: 'colname mono', title: x.sql, onclick: () => {
            editor.value = x.sql;
            walk.at = -1;
            closeComplete();
            editor.focus();
          } }, line),
          h('span', { class: 'when', title: typeof x.at === 'string' ? x.at : null }, relTime(x.at)));
      }));
      if (!list.length) historyList.replaceChildren(h('li', { class: 'muted' }, 'no queries run in this browser yet'));
    }
    function walkHistory(step) {
      const list = sqlHistory();
      if (!list.length) return;
      if (walk.at < 0) {
        walk.draft = editor.value;
        walk.at = list.findIndex((x) => x.sql === editor.value.trim()); // -1 unless it is one of them
      }
      const at = Math.max(-1, Math.min(list.length - 1, walk.at + step));
      if (at === walk.at) return;
      walk.at = at;
      editor.value = at < 0 ? walk.draft : list[at].sql;
      editor.setSelectionRange(editor.value.length, editor.value.length);
    }
    showHistory();
    // Another tab of the console ran a query.
    const onStorage = (e) => { if (e.key === SQL_HISTORY_KEY || e.key === null) showHistory(); };
    window.addEventListener('storage', onStorage);
    ctx.leave.push(() => window.removeEventListener('storage', onStorage));

    // Completion: the list follows typing; Up/Down move, Tab or Enter accept, Escape closes,
    // Ctrl+Space opens it. An accepted name replaces the word under the caret.
    const AC = { cands: [], items: [], active: 0, start: 0, end: 0, typed: '', accepting: false };
    /** The word (letters, digits, _ and .) that ends at the caret, and where it ends after it. */
    function wordAtCaret() {
      const pos = editor.selectionStart;
      if (pos !== editor.selectionEnd) return null;
      const before = /[A-Za-z0-9_.]*$/.exec(editor.value.slice(0, pos))[0];
      const after = /^[A-Za-z0-9_]*/.exec(editor.value.slice(pos))[0];
      return { start: pos - before.length, word: before, end: pos + after.length };
    }
    function closeComplete() {
      if (completeList.hidden && !AC.items.length) return;
      completeList.hidden = true;
      completeList.replaceChildren();
      AC.items = [];
    }
    function openComplete(explicit) {
      const at = wordAtCaret();
      if (!at || !AC.cands.length) { closeComplete(); return; }
      const lower = at.word.toLowerCase();
      if (!explicit && (!at.word || /^[0-9]/.test(at.word) || SQL_KEYWORDS.has(lower) || inSqlLiteral(editor.value.slice(0, at.start)))) {
        closeComplete();
        return;
      }
      const m = matchCandidates(AC.cands, at.word);
      const typed = lower.slice(m.from);
      // Nothing to offer, or only the name already typed.
      if (!m.items.length || (!explicit && m.items.length === 1 && m.items[0].lower === typed)) { closeComplete(); return; }
      Object.assign(AC, { items: m.items, active: 0, start: at.start + m.from, end: at.end, typed });
      completeList.replaceChildren(...m.items.map((c, i) => h('li', {
        role: 'option', class: `complete-${c.kind}` + (i === 0 ? ' active' : ''), 'aria-selected': String(i === 0),
        'data-value': c.value, title: c.value, onclick: () => acceptComplete(i),
      }, h('span', { class: 'mono cname' }, c.value), h('span', { class: 'ckind' }, c.detail))));
      completeList.hidden = false;
      placeComplete();
    }
    /** Under the start of the word, inside the editor's card. */
    function placeComplete() {
      const c = caretCoords(editor, AC.start);
      const top = editor.offsetTop + editor.clientTop + Math.max(0, Math.min(c.top + c.height, editor.clientHeight));
      const left = editor.offsetLeft + editor.clientLeft + Math.max(0, c.left);
      const room = (completeList.offsetParent || editor).clientWidth - completeList.offsetWidth - 4;
      completeList.style.top = `${top}px`;
      completeList.style.left = `${Math.max(0, Math.min(left, room))}px`;
    }
    function moveComplete(step) {
      const n = AC.items.length;
      AC.active = (AC.active + step + n) % n;
      [...completeList.children].forEach((li, i) => {
        li.classList.toggle('active', i === AC.active);
        li.setAttribute('aria-selected', String(i === AC.active));
      });
    }
    function acceptComplete(i) {
      const c = AC.items[i];
      if (!c) return;
      const { start: from, end: to } = AC;
      closeComplete();
      editor.focus();
      editor.setSelectionRange(from, to);
      // insertText keeps the browser's undo; setRangeText where it is not there.
      AC.accepting = true;
      let done = false;
      try { done = document.execCommand('insertText', false, c.value); } catch (_) { /* not supported */ }
      AC.accepting = false;
      if (!done || editor.value.slice(from, from + c.value.length) !== c.value) editor.setRangeText(c.value, from, to, 'end');
    }
    // A click on an item must not take the focus from the editor (which closes the list).
    completeList.addEventListener('mousedown', (e) => e.preventDefault());
    editor.addEventListener('input', (e) => {
      walk.at = -1;
      if (AC.accepting || e.isComposing) return;
      const typing = !e.inputType || e.inputType === 'insertText';
      const deleting = /^delete(Content|Word)Backward$/.test(e.inputType || '');
      if (typing || (deleting && !completeList.hidden)) openComplete(false);
      else closeComplete();
    });
    editor.addEventListener('blur', closeComplete);
    editor.addEventListener('mousedown', closeComplete);
    editor.addEventListener('scroll', () => { if (!completeList.hidden) placeComplete(); });

    editor.addEventListener('keydown', (e) => {
      if (e.isComposing) return;
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); closeComplete(); start(); return; }
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        e.preventDefault();
        closeComplete();
        walkHistory(e.key === 'ArrowUp' ? 1 : -1);
        return;
      }
      if (e.ctrlKey && (e.key === ' ' || e.code === 'Space')) { e.preventDefault(); openComplete(true); return; }
      if (completeList.hidden) return;
      if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && !e.shiftKey) {
        e.preventDefault();
        moveComplete(e.key === 'ArrowDown' ? 1 : -1);
      } else if ((e.key === 'Tab' || e.key === 'Enter') && !e.shiftKey && !e.altKey) {
        // Enter after a whole name (the item picked is what was typed) is a new line.
        const c = AC.items[AC.active];
        if (e.key === 'Enter' && c && c.lower === AC.typed) { closeComplete(); return; }
        e.preventDefault();
        acceptComplete(AC.active);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closeComplete();
      } else if (/^(ArrowLeft|ArrowRight|Home|End|PageUp|PageDown)$/.test(e.key)) {
        closeComplete();
      }
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
      AC.cands = sqlCandidates(s);
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
  loadLakeInBackground(); // the lake's name and which IP and account files the server has
  route();
})();
