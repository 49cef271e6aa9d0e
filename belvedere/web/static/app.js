// belvedere dashboard: login, map of the arrondissements with a choropleth, hourly timeline.
//
// Plain script, no build step. Every figure comes from the JSON API with the session cookie,
// i.e. through the release gate; this file only draws what the gate released. Every string
// shown comes from the i18n dictionary embedded in the page (belvedere/web/i18n/*.json).
'use strict';

(() => {
  const body = document.body;
  const LANG = body.dataset.lang;
  const API = body.dataset.api;
  const T = JSON.parse(document.getElementById('i18n').textContent);
  // The city's clock: bins and dates are shown in Marseille time whatever the browser's zone.
  const CITY_TZ = 'Europe/Paris';
  const HOUR = 3600e3;
  const DAY = 24 * HOUR;
  const BIN_MS = { hour: HOUR, day: DAY };
  const RAMP = ['#fff3c4', '#fdc463', '#f98e2b', '#d8501c', '#8f2a0e'];
  // Formats: British English keeps the day-month order French readers expect.
  const LOCALE = { fr: 'fr-FR', en: 'en-GB' }[LANG] ?? LANG;
  const NUM = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });

  const $ = (id) => document.getElementById(id);

  // What the browser test (and a curious operator in the console) can read.
  const state = {
    source: null, level: null, resolution: null, start: null, end: null,
    featureCount: 0, nonNullCount: 0, zonesLoaded: 0, ready: false,
    granted: null, timeBin: null, k: null, values: [], timelineValues: [], error: null,
    // The events view: which view is shown, how many events it lists, and the anticipation
    // shown (event id, granted level, k, number of feed rows).
    view: 'map', eventsLoaded: 0, anticipationEvent: null, anticipationGranted: null,
    anticipationK: null, anticipationFeeds: 0,
  };
  window.belvedere = { map: null, state };

  // ---- i18n ---------------------------------------------------------------------------------

  /** The text of `key` with `{name}` placeholders filled from `params`. */
  function t(key, params = {}) {
    const text = T[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }

  /** The translation of an API enum value (role, metric, kind…), or the value itself. */
  function label(prefix, value) {
    return T[`${prefix}.${value}`] ?? String(value);
  }

  // ---- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  /** FastAPI's `detail` is a string, or a list of validation errors. */
  function detailOf(data) {
    const detail = data && data.detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg ?? JSON.stringify(d)).join('; ');
    return detail ? String(detail) : '';
  }

  async function api(path, { method = 'GET', params = null, form = null, json = null } = {}) {
    const url = new URL(API + path, location.origin);
    for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v);
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (form) init.body = new URLSearchParams(form);
    if (json) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(json);
    }
    // Unsafe methods echo the CSRF cookie set at login (double submit, docs/security.md).
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('belvedere_csrf='));
    if (!['GET', 'HEAD'].includes(method.toUpperCase()) && csrf) init.headers['X-CSRF-Token'] = csrf.split('=')[1];
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new ApiError(0, t('error.network'));
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, detailOf(data) || response.statusText);
    return data;
  }

  // ---- time ---------------------------------------------------------------------------------
  // Times are handled as "wall-clock milliseconds": the Marseille wall clock read as if it
  // were UTC. The timeline's bins arrive in that form already (naive local ISO strings).

  const partsFormat = new Intl.DateTimeFormat('en-US', {
    timeZone: CITY_TZ, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  /** Marseille wall clock of an instant (a Date), in wall-clock ms. */
  function wallOf(date) {
    const p = Object.fromEntries(partsFormat.formatToParts(date).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  }

  /** The instant at which Marseille's wall clock shows `wall` (two passes settle DST edges). */
  function instantOf(wall) {
    let guess = wall - (wallOf(new Date(wall)) - wall);
    guess = wall - (wallOf(new Date(guess)) - guess);
    return new Date(guess);
  }

  /** Wall-clock ms of an ISO string: with an offset it is an instant, without one local time. */
  function wallOfIso(iso) {
    if (/(Z|[+-]\d\d:?\d\d)$/i.test(iso)) return wallOf(new Date(iso));
    return Date.parse(`${iso.length === 10 ? `${iso}T00:00:00` : iso}Z`);
  }

  /** ISO UTC without milliseconds, e.g. 2024-07-01T22:00:00Z. */
  function isoUtc(date) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  const dateInputValue = (wall) => new Date(wall).toISOString().slice(0, 10);

  /** A formatter of wall-clock ms in the page's language. */
  function wallFormat(options) {
    const format = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', ...options });
    return (wall) => format.format(new Date(wall));
  }
  const fmtDay = wallFormat({ weekday: 'short', day: '2-digit', month: '2-digit' });
  const fmtHour = wallFormat({ hour: '2-digit', minute: '2-digit' });
  const fmtDateTime = wallFormat({
    weekday: 'short', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit',
  });

  // ---- page state ---------------------------------------------------------------------------

  let sources = [];
  let zones = null;
  let places = null;
  let basemapProtocol = null;
  const zoneNames = new Map();
  let dashboardStarted = false;
  let loadSeq = 0;
  let lastTimeline = null;
  let dataPeriod = null;
  let view = 'map';
  let eventsLoadedOnce = false;
  let selectedEvent = null;
  let wantedEvent = null; // the event of the URL, opened once the list is loaded
  let eventsSeq = 0;

  function setReady(value) {
    body.dataset.ready = value;
    state.ready = value === '1';
  }

  function showError(message) {
    const el = $('error');
    el.textContent = message;
    el.hidden = !message;
    state.error = message || null;
  }

  function showLogin(message = '') {
    stopLive();
    $('login').hidden = false;
    $('dashboard').hidden = true;
    $('user').hidden = true;
    $('login-error').textContent = message;
    $('login-username').focus();
    setReady('0');
  }

  function showUser(user) {
    $('user-name').textContent = user.username;
    $('user-role').textContent = label('role', user.role);
    $('user').hidden = false;
    $('login').hidden = true;
    $('dashboard').hidden = false;
  }

  // ---- controls and URL ---------------------------------------------------------------------
  // The selection lives in the URL (?source=…&start=…), so that the FR/EN switch, a reload or
  // a shared link keep it.

  function readControls() {
    return {
      source: $('ctl-source').value,
      start: $('ctl-start').value,
      days: Number($('ctl-days').value),
      level: $('ctl-level').value,
      resolution: Number($('ctl-resolution').value),
    };
  }

  function syncUrl(sel) {
    const params = new URLSearchParams({
      lang: LANG, source: sel.source, start: sel.start, days: sel.days, level: sel.level,
      resolution: sel.resolution,
    });
    // The events view and its chosen event survive the FR/EN switch and a reload.
    if (view === 'events') params.set('view', 'events');
    if (view === 'events' && selectedEvent) params.set('event', selectedEvent);
    history.replaceState(null, '', `?${params}`);
    for (const link of document.querySelectorAll('nav.lang a[data-lang]')) {
      params.set('lang', link.dataset.lang);
      link.href = `?${params}`;
    }
  }

  /** Set a <select>/<input> from the URL when the URL's value is a valid choice. */
  function setIfValid(id, value) {
    const el = $(id);
    if (value == null) return;
    if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === value)) return;
    el.value = value;
  }

  function fillSourceSelect() {
    const select = $('ctl-source');
    select.replaceChildren();
    const groups = new Map();
    for (const source of sources) {
      if (!groups.has(source.kind)) {
        const group = document.createElement('optgroup');
        group.label = label('kind', source.kind);
        groups.set(source.kind, group);
        select.append(group);
      }
      const option = new Option(source.label?.[LANG] ?? source.label?.fr ?? source.name, source.name);
      groups.get(source.kind).append(option);
    }
  }

  /** Default window: the last `days` local days of the data period (or up to today). */
  function defaultStart(health, days) {
    const end = health.data_period ? wallOfIso(health.data_period.end) : wallOf(new Date()) + DAY;
    const lastDay = Math.floor((end - 1) / DAY) * DAY;
    return dateInputValue(lastDay - (days - 1) * DAY);
  }

  function initControls(health) {
    dataPeriod = health.data_period ?? null;
    fillSourceSelect();
    const url = new URLSearchParams(location.search);
    setIfValid('ctl-source', url.get('source'));
    setIfValid('ctl-days', url.get('days'));
    setIfValid('ctl-level', url.get('level'));
    setIfValid('ctl-resolution', url.get('resolution'));
    const start = url.get('start');
    const days = Number($('ctl-days').value);
    $('ctl-start').value = /^\d{4}-\d{2}-\d{2}$/.test(start ?? '') ? start : defaultStart(health, days);
    if (health.data_period) {
      $('ctl-start').min = dateInputValue(wallOfIso(health.data_period.start));
      $('ctl-start').max = dateInputValue(wallOfIso(health.data_period.end) - 1);
    }
    $('ctl-resolution').disabled = $('ctl-level').value !== 'cell';
  }

  // ---- map ----------------------------------------------------------------------------------

  function bounds(fc) {
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    const walk = (coords) => {
      if (typeof coords[0] === 'number') {
        box[0] = Math.min(box[0], coords[0]); box[1] = Math.min(box[1], coords[1]);
        box[2] = Math.max(box[2], coords[0]); box[3] = Math.max(box[3], coords[1]);
      } else coords.forEach(walk);
    };
    fc.features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
    return [[box[0], box[1]], [box[2], box[3]]];
  }

  /** Diagonal stripes for suppressed places, made in memory: no sprite file needed offline. */
  function hatchImage(size = 8) {
    const data = new Uint8Array(size * size * 4);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const stripe = (x + y) % size < 2;
        data.set(stripe ? [96, 96, 96, 230] : [220, 220, 220, 190], (y * size + x) * 4);
      }
    }
    return { width: size, height: size, data };
  }

  const EMPTY = { type: 'FeatureCollection', features: [] };
  const HAS_VALUE = ['==', ['typeof', ['get', 'value']], 'number'];

  /** The operator's optional PMTiles basemap (built from an OpenStreetMap extract, served by
   * the app itself): water, green areas, buildings, roads, railways, under everything else.
   * Returns whether one was added. */
  function addBasemap(map) {
    if (body.dataset.basemap !== '1' || typeof pmtiles === 'undefined') return false;
    if (!basemapProtocol) {
      basemapProtocol = new pmtiles.Protocol();
      maplibregl.addProtocol('pmtiles', basemapProtocol.tile);
    }
    const root = API.replace(/\/api\/v1$/, '');
    map.addSource('basemap', {
      type: 'vector', url: `pmtiles://${location.origin}${root}/basemap.pmtiles`,
      attribution: t('map.osm_attribution'),
    });
    const layer = (id, type, cls, paint, extra = {}) => map.addLayer({
      id: `basemap-${id}`, type, source: 'basemap', 'source-layer': 'osm',
      filter: ['all', ['==', ['get', 'class'], cls], ...(extra.filter ? [extra.filter] : [])], paint,
    });
    layer('green', 'fill', 'green', { 'fill-color': '#d8e8c8' });
    layer('water', 'fill', 'water', { 'fill-color': '#a9cbe3' });
    layer('building', 'fill', 'building', { 'fill-color': '#ddd5c8' });
    layer('minor', 'line', 'road', { 'line-color': '#ffffff', 'line-width': 1 }, { filter: ['==', ['get', 'rank'], 'minor'] });
    layer('major', 'line', 'road', { 'line-color': '#f2c46d', 'line-width': 2 }, { filter: ['==', ['get', 'rank'], 'major'] });
    layer('rail', 'line', 'rail', { 'line-color': '#8a8a8a', 'line-width': 1, 'line-dasharray': [3, 2] });
    state.basemap = true;
    return true;
  }

  function createMap() {
    return new Promise((resolve) => {
      // No basemap (no tiles offline): sea-blue background, the arrondissements as land.
      const map = new maplibregl.Map({
        container: 'map',
        style: {
          version: 8, sources: {},
          layers: [{ id: 'sea', type: 'background', paint: { 'background-color': '#bcd6e8' } }],
        },
        bounds: bounds(zones),
        fitBoundsOptions: { padding: 16 },
        dragRotate: false,
        pitchWithRotate: false,
        attributionControl: { compact: true },
      });
      map.touchZoomRotate.disableRotation();
      map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
      map.on('load', () => {
        map.addImage('hatch', hatchImage());
        map.addSource('zones', { type: 'geojson', data: zones, attribution: t('map.attribution') });
        map.addSource('choropleth', { type: 'geojson', data: EMPTY });
        map.addSource('events', { type: 'geojson', data: EMPTY });
        map.addLayer({ id: 'zones-fill', type: 'fill', source: 'zones', paint: { 'fill-color': '#f5f2ea' } });
        // The city's land, then the optional basemap's streets over it, then the figures, a
        // little more transparent so that the streets show through.
        const withBasemap = addBasemap(map);
        map.addLayer({
          id: 'choropleth-fill', type: 'fill', source: 'choropleth', filter: HAS_VALUE,
          paint: { 'fill-color': RAMP[0], 'fill-opacity': withBasemap ? 0.65 : 0.85 },
        });
        map.addLayer({
          id: 'choropleth-suppressed', type: 'fill', source: 'choropleth',
          filter: ['==', ['get', 'suppressed'], true], paint: { 'fill-pattern': 'hatch' },
        });
        map.addLayer({
          id: 'choropleth-line', type: 'line', source: 'choropleth',
          paint: { 'line-color': 'rgba(60, 40, 20, 0.25)', 'line-width': 0.5 },
        });
        map.addLayer({
          id: 'zones-line', type: 'line', source: 'zones',
          paint: { 'line-color': '#3d3d3d', 'line-width': 1.2 },
        });
        map.addLayer({
          id: 'events-circle', type: 'circle', source: 'events',
          paint: {
            'circle-radius': 6, 'circle-color': '#5b2c83',
            'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.5,
          },
        });
        map.addSource('live', { type: 'geojson', data: EMPTY });
        map.addLayer({
          id: 'live-line', type: 'line', source: 'live',
          paint: { 'line-color': '#c0392b', 'line-width': 3 },
        });
        map.addSource('places', { type: 'geojson', data: places ?? EMPTY });
        for (const [kind, color] of Object.entries(PLACE_COLORS)) {
          map.addLayer({
            id: `place-${kind}`, type: 'circle', source: 'places',
            filter: ['==', ['get', 'kind'], kind],
            layout: { visibility: PLACE_DEFAULT.includes(kind) ? 'visible' : 'none' },
            paint: {
              'circle-radius': kind === 'venue' ? 7 : 4.5, 'circle-color': color,
              'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.2,
            },
          });
        }
        drawLayerToggles(map);
        addPopup(map);
        resolve(map);
      });
    });
  }

  // Reference places, one toggleable layer per kind (venues shown by default).
  const PLACE_COLORS = { venue: '#5b2c83', hospital: '#c0392b', station: '#1f6fb2', camera: '#4d4d4d' };
  const PLACE_DEFAULT = ['venue', 'hospital'];

  /** Checkboxes (keyboard reachable) that show or hide each kind of place. */
  function drawLayerToggles(map) {
    const box = $('layers');
    box.replaceChildren(el('legend', { textContent: t('layers.title') }));
    for (const kind of Object.keys(PLACE_COLORS)) {
      const input = el('input', { type: 'checkbox', id: `layer-${kind}`, checked: PLACE_DEFAULT.includes(kind) });
      input.addEventListener('change', () => {
        map.setLayoutProperty(`place-${kind}`, 'visibility', input.checked ? 'visible' : 'none');
        state.layers = Object.keys(PLACE_COLORS).filter((k) => $(`layer-${k}`).checked);
      });
      const dot = el('span', { className: 'dot' });
      dot.style.background = PLACE_COLORS[kind];
      box.append(el('label', { htmlFor: `layer-${kind}` }, input, dot, label('layers', kind)));
    }
    state.layers = [...PLACE_DEFAULT];
  }

  /** Text labels need glyph files we do not have offline: names are shown on hover instead. */
  function addPopup(map) {
    const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, maxWidth: '300px' });
    const layers = ['events-circle', ...Object.keys(PLACE_COLORS).map((k) => `place-${k}`),
      'choropleth-fill', 'choropleth-suppressed', 'zones-fill'];
    const show = (e) => {
      const features = map.queryRenderedFeatures(e.point, { layers });
      if (!features.length) {
        popup.remove();
        return;
      }
      const lines = [];
      const byLayer = (id) => features.find((f) => f.layer.id === id);
      const event = byLayer('events-circle');
      const site = features.find((f) => f.layer.id.startsWith('place-'));
      if (site) lines.push(`${label('layers', site.properties.kind)} — ${site.properties.name}`);
      const zone = byLayer('zones-fill');
      const place = byLayer('choropleth-fill') ?? byLayer('choropleth-suppressed');
      if (event) {
        const p = event.properties;
        lines.push(t('popup.event', { title: p.title, venue: p.venue }), fmtDateTime(wallOfIso(p.start)));
      }
      if (zone) lines.push(zone.properties.name);
      if (place) {
        const p = place.properties;
        if (!zoneNames.has(p.place)) lines.push(t('popup.cell', { cell: p.place }));
        // GeoJSON properties come back from the worker as strings or numbers; null is kept.
        const suppressed = p.suppressed === true || p.suppressed === 'true';
        lines.push(suppressed ? t('popup.suppressed') : t('popup.value', { value: NUM.format(p.value) }));
      }
      const content = document.createElement('div');
      for (const line of lines) content.append(Object.assign(document.createElement('div'), { textContent: line }));
      popup.setLngLat(e.lngLat).setDOMContent(content).addTo(map);
    };
    map.on('mousemove', show);
    map.on('click', show);
    map.getCanvas().addEventListener('mouseleave', () => popup.remove());
  }

  function mapIdle(map) {
    return new Promise((resolve) => map.once('idle', resolve));
  }

  // ---- choropleth and legend ----------------------------------------------------------------

  /** Up to `classes` quantile classes: ascending thresholds strictly above the minimum. */
  function classBreaks(values, classes = RAMP.length) {
    const sorted = [...values].sort((a, b) => a - b);
    const breaks = [];
    for (let i = 1; i < classes; i++) {
      const v = sorted[Math.floor((i * sorted.length) / classes)];
      if (v > sorted[0] && (breaks.length === 0 || v > breaks.at(-1))) breaks.push(v);
    }
    const n = breaks.length + 1;
    // Spread the classes over the whole ramp, so two classes are still far apart in colour.
    const colors = Array.from({ length: n }, (_, i) =>
      RAMP[n === 1 ? 2 : Math.round((i * (RAMP.length - 1)) / (n - 1))]);
    return { min: sorted[0], max: sorted.at(-1), breaks, colors };
  }

  function fillColor(classes) {
    // One class (every place has the same value): a plain colour; a step needs a stop.
    if (!classes.breaks.length) return classes.colors[0];
    const expr = ['step', ['to-number', ['get', 'value'], 0], classes.colors[0]];
    classes.breaks.forEach((b, i) => expr.push(b, classes.colors[i + 1]));
    return expr;
  }

  function drawLegend(source, classes, suppressedCount, k) {
    const legend = $('legend');
    legend.replaceChildren();
    const title = document.createElement('div');
    title.className = 'legend-title';
    title.textContent = t('legend.title', { metric: label('metric', source?.metric ?? source?.name) });
    legend.append(title);
    const row = (swatchClass, color, text) => {
      const div = document.createElement('div');
      div.className = 'legend-row';
      const swatch = document.createElement('span');
      swatch.className = `swatch ${swatchClass}`;
      if (color) swatch.style.background = color;
      div.append(swatch, document.createTextNode(text));
      legend.append(div);
    };
    if (classes) {
      classes.colors.forEach((color, i) => {
        const lo = i === 0 ? classes.min : classes.breaks[i - 1];
        const hi = i === classes.colors.length - 1 ? classes.max : classes.breaks[i];
        row('', color, lo === hi ? NUM.format(lo) : `${NUM.format(lo)} – ${NUM.format(hi)}`);
      });
    } else {
      row('swatch-empty', null, t('legend.no_data'));
    }
    if (suppressedCount > 0 || k != null) {
      row('swatch-suppressed', null, k == null ? t('legend.suppressed_no_k') : t('legend.suppressed', { k }));
    }
  }

  /** What the gate granted: the map's place level and the timeline's time bin (the map itself
   * sums the whole window, so its own bin says nothing about time detail). */
  function drawGranted(granted, timeBin, k, sel) {
    if (!granted) {
      $('granted').textContent = '';
      return;
    }
    const level = granted.level === 'cell'
      ? t('granted.level.cell', { resolution: granted.resolution ?? sel.resolution })
      : label('granted.level', granted.level);
    const params = { level, bin: label('granted.bin', timeBin ?? granted.bin), k };
    let text = t(k == null ? 'granted.line_no_k' : 'granted.line', params);
    const coarsened = granted.level !== sel.level
      || (granted.level === 'cell' && granted.resolution != null && granted.resolution !== sel.resolution)
      || (timeBin != null && timeBin !== 'hour');
    if (coarsened) text += ` ${t('granted.coarsened')}`;
    $('granted').textContent = text;
  }

  // ---- timeline -----------------------------------------------------------------------------

  const SVG_NS = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, parent, title) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (title) {
      const tip = document.createElementNS(SVG_NS, 'title');
      tip.textContent = title;
      el.append(tip);
    }
    parent.append(el);
    return el;
  }

  /** 1, 2 or 5 times a power of ten, at least `v`. */
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= v);
  }

  function drawTimeline(data) {
    lastTimeline = data;
    const { series, bin, events, win, sourceLabel } = data;
    const el = $('timeline');
    el.replaceChildren();
    if (!series.length) {
      el.textContent = t('timeline.empty');
      return;
    }
    const width = Math.max(320, el.clientWidth || 800);
    const height = 190;
    const m = { top: 16, right: 12, bottom: 26, left: 46 };
    const span = win.endWall - win.startWall;
    const x = (wall) => m.left + ((wall - win.startWall) / span) * (width - m.left - m.right);
    const values = series.filter((b) => typeof b.value === 'number').map((b) => b.value);
    const ymax = niceMax(Math.max(0, ...values));
    const base = height - m.bottom;
    const y = (v) => base - (v / ymax) * (base - m.top);
    const suppressed = series.filter((b) => b.suppressed).length;

    const root = svg('svg', {
      viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
      'aria-label': t('timeline.label', {
        source: sourceLabel, start: fmtDay(win.startWall), end: fmtDay(win.endWall - 1),
        bins: series.length, suppressed, events: events.length,
      }),
    }, el);

    // Axes: y at 0, half and max; x at hours, days or 5-day steps depending on the window.
    for (const v of [0, ymax / 2, ymax]) {
      svg('line', { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: 'grid' }, root);
      svg('text', { x: m.left - 6, y: y(v) + 4, class: 'tick tick-y' }, root).textContent = NUM.format(v);
    }
    const tickStep = span <= DAY ? 3 * HOUR : span <= 10 * DAY ? DAY : 5 * DAY;
    const tickLabel = tickStep < DAY ? fmtHour : fmtDay;
    for (let w = win.startWall; w < win.endWall; w += tickStep) {
      svg('line', { x1: x(w), x2: x(w), y1: base, y2: base + 4, class: 'axis' }, root);
      svg('text', { x: x(w) + 2, y: height - 8, class: 'tick' }, root).textContent = tickLabel(w);
    }

    // Bars; a suppressed bin is a gap with a grey strip on the axis, so it is not read as zero.
    const step = BIN_MS[bin] ?? HOUR;
    for (const b of series) {
      const start = wallOfIso(b.bin_start);
      const x0 = x(start);
      const w = Math.max(0.5, x(start + step) - x0 - (step === HOUR && span > 2 * DAY ? 0 : 1));
      const when = step < DAY ? fmtDateTime(start) : fmtDay(start);
      if (b.suppressed) {
        svg('rect', { x: x0, y: base - 3, width: w, height: 3, class: 'bar-suppressed' }, root,
          `${when} — ${t('timeline.key.suppressed')}`);
      } else if (typeof b.value === 'number') {
        svg('rect', { x: x0, y: y(b.value), width: w, height: base - y(b.value), class: 'bar' }, root,
          `${when} — ${NUM.format(b.value)}`);
      }
    }

    // Planned events: a band over their duration and a marker at their start.
    for (const ev of events) {
      const s = Math.max(win.startWall, wallOfIso(ev.start));
      const e = Math.min(win.endWall, wallOfIso(ev.end ?? ev.start));
      if (e < win.startWall || s > win.endWall) continue;
      const tip = `${ev.title} — ${ev.venue_name ?? ev.venue ?? ''} (${fmtDateTime(wallOfIso(ev.start))})`;
      svg('rect', { x: x(s), y: m.top, width: Math.max(1, x(e) - x(s)), height: base - m.top, class: 'event-band' }, root, tip);
      svg('path', { d: `M${x(s) - 5},${m.top - 10} h10 l-5,8 z`, class: 'event-marker' }, root, tip);
    }
  }

  function drawEventList(events) {
    const list = $('events');
    list.replaceChildren();
    if (!events.length) {
      list.append(Object.assign(document.createElement('li'), { textContent: t('events.none') }));
      return;
    }
    for (const ev of events) {
      const parts = [fmtDateTime(wallOfIso(ev.start)), ev.title, ev.venue_name ?? ev.venue].filter(Boolean);
      if (ev.expected_attendance != null) {
        parts.push(t('events.attendance', { n: NUM.format(ev.expected_attendance) }));
      }
      list.append(Object.assign(document.createElement('li'), { textContent: parts.join(' · ') }));
    }
  }

  function eventsGeojson(events) {
    return {
      type: 'FeatureCollection',
      features: events.filter((ev) => ev.lat != null && ev.lon != null).map((ev) => ({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [ev.lon, ev.lat] },
        properties: { title: ev.title, venue: ev.venue_name ?? ev.venue ?? '', start: ev.start },
      })),
    };
  }


  // ---- zone drill-down: every feed of one arrondissement, observed against expected ----------
  // A click on an arrondissement (or the select, by keyboard, or an alert's button) draws one
  // small chart per feed over the chosen window: the released figures, and the mean of the same
  // hour of week over the 4 weeks before (dashed).

  let drillSeq = 0;

  function fillDrillZones() {
    const select = $('drill-zone');
    for (const [id, name] of [...zoneNames.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      select.append(el('option', { value: id, textContent: name }));
    }
    select.addEventListener('change', () => select.value && openDrill(select.value));
  }

  async function openDrill(zoneId) {
    const seq = ++drillSeq;
    $('drill-zone').value = zoneId;
    const sel = readControls();
    const startWall = Date.parse(`${sel.start}T00:00:00Z`);
    const params = { start: isoUtc(instantOf(startWall)), end: isoUtc(instantOf(startWall + sel.days * DAY)) };
    $('drill-note').textContent = t('status.loading');
    try {
      const data = await api(`/situation/zone/${encodeURIComponent(zoneId)}`, { params });
      if (seq !== drillSeq) return;
      drawDrill(data);
      state.drillZone = zoneId;
      state.drillFeeds = data.feeds.length;
    } catch (err) {
      if (seq === drillSeq) $('drill-note').textContent = t('error.load', { detail: err.message });
    }
  }

  function drawDrill(data) {
    const box = $('drill-charts');
    box.replaceChildren();
    $('drill-note').textContent = t('drill.note', { name: data.name, weeks: data.baseline_weeks })
      + (data.k != null ? ` ${t('drill.k', { k: data.k })}` : '');
    const order = sources.map((s) => s.name);
    const feeds = [...data.feeds].sort((a, b) => order.indexOf(a.source) - order.indexOf(b.source));
    for (const feed of feeds) {
      const source = sources.find((s) => s.name === feed.source);
      const name = source?.label?.[LANG] ?? feed.source;
      const figure = el('figure', { className: 'drill-chart' });
      figure.dataset.source = feed.source;
      const observed = feed.bins.map((b) => b.observed);
      const expected = feed.bins.map((b) => b.expected);
      const values = [...observed, ...expected].filter((v) => typeof v === 'number');
      const max = Math.max(1, ...values);
      const W = 320, H = 90, pad = 4;
      const chart = document.createElementNS(SVG_NS, 'svg');
      chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
      chart.setAttribute('role', 'img');
      const total = (xs) => xs.reduce((a, v) => a + (typeof v === 'number' ? v : 0), 0);
      chart.setAttribute('aria-label', t('drill.chart_label', {
        feed: name, observed: NUM.format(Math.round(total(observed))), expected: NUM.format(Math.round(total(expected))),
      }));
      const x = (i) => pad + (i * (W - 2 * pad)) / Math.max(1, feed.bins.length - 1);
      const y = (v) => H - pad - (v / max) * (H - 2 * pad);
      const line = (vals) => vals.map((v, i) => (typeof v === 'number' ? `${x(i)},${y(v)}` : null))
        .filter(Boolean).join(' ');
      svg('polyline', { points: line(expected), class: 'drill-expected' }, chart);
      svg('polyline', { points: line(observed), class: 'drill-observed' }, chart);
      feed.bins.forEach((b, i) => {
        if (b.suppressed) svg('rect', { x: x(i) - 1.5, y: pad, width: 3, height: H - 2 * pad, class: 'drill-suppressed' }, chart);
      });
      figure.append(el('figcaption', { textContent: name }), chart);
      box.append(figure);
    }
  }

  // ---- live supervision: the stream, the last hour's counts, the alert feed ------------------
  // The server pushes the live picture (Server-Sent Events) at every committed batch; each
  // message also refreshes the alerts, which the detector records as the data arrive. Alerts
  // are acknowledged or dismissed by a person with a reason; nothing is dispatched by itself.

  const LIVE_ROLES = ['operator', 'analyst', 'dpo'];
  const ALERT_READERS = ['operator', 'dpo'];
  let liveSource = null;
  let alertsTimer = null;
  let alertsSeq = 0;
  let role = null;

  function startLive(userRole) {
    role = userRole;
    stopLive();
    if (!LIVE_ROLES.includes(role)) return;
    $('live-panel').hidden = false;
    $('alerts-block').hidden = !ALERT_READERS.includes(role);
    liveSource = new EventSource(`${API}/live/stream`, { withCredentials: true });
    liveSource.addEventListener('open', () => {
      state.liveConnected = true;
      $('live-status').textContent = t('live.connected');
    });
    liveSource.addEventListener('situation', (e) => {
      const data = JSON.parse(e.data);
      state.liveSeq = data.seq;
      drawLiveCounts(data);
      scheduleLiveOverlay(data);
      scheduleAlerts();
    });
    liveSource.addEventListener('error', () => {
      // EventSource reconnects by itself; say so meanwhile.
      state.liveConnected = false;
      $('live-status').textContent = t('live.reconnecting');
    });
    scheduleAlerts();
  }

  function stopLive() {
    if (liveSource) liveSource.close();
    liveSource = null;
    clearInterval(alertsTimer);
    alertsTimer = null;
  }

  /** Per feed, what the last 60 minutes brought (the role's view: suppressed values are not
   * added, and the line says how many places were withheld). */
  function drawLiveCounts(data) {
    const win = data.windows?.last_60_min ?? Object.values(data.windows ?? {})[0];
    const list = $('live-counts');
    list.replaceChildren();
    if (!win) return;
    const byFeed = new Map();
    for (const r of win.rows) {
      const c = byFeed.get(r.source) ?? { value: 0, hidden: 0 };
      if (r.suppressed || typeof r.value !== 'number') c.hidden += 1;
      else c.value += r.value;
      byFeed.set(r.source, c);
    }
    const order = sources.map((s) => s.name);
    for (const [feed, c] of [...byFeed.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))) {
      const source = sources.find((s) => s.name === feed);
      const text = t('live.count', { feed: source?.label?.[LANG] ?? feed, value: NUM.format(c.value) })
        + (c.hidden ? ` ${t('live.hidden', { n: c.hidden })}` : '');
      list.append(el('li', { className: 'live-count', textContent: text }));
    }
    state.liveFeeds = byFeed.size;
  }

  /** The last hour's incidents of the feeds that just received records (field reports,
   * police log…), outlined over the choropleth: what arrives shows on the map at once. The
   * shapes come from the situation map route, so the role's level and threshold apply. */
  let overlaySeq = 0;
  const overlayFeeds = new Set();
  function scheduleLiveOverlay(data) {
    const rows = Object.values(data.windows ?? {}).flatMap((w) => w.rows);
    const arrived = (data.arrived ?? []).filter((a) => a.stored > 0).map((a) => a.feed);
    for (const feed of [...arrived, ...rows.map((r) => r.source)]) {
      const source = sources.find((s) => s.name === feed);
      if (source?.kind === 'incidents') overlayFeeds.add(feed);
    }
    if (!overlayFeeds.size) return;
    clearTimeout(scheduleLiveOverlay.pending);
    scheduleLiveOverlay.pending = setTimeout(drawLiveOverlay, 200);
  }

  async function drawLiveOverlay() {
    const seq = ++overlaySeq;
    const map = window.belvedere.map;
    const end = new Date(Date.now() + 60e3);
    const start = new Date(end.getTime() - 61 * 60e3);
    const params = { start: isoUtc(start), end: isoUtc(end), level: role === 'operator' ? 'cell' : 'zone', resolution: 9 };
    try {
      const parts = await Promise.all([...overlayFeeds].map((feed) => api('/situation/map', { params: { ...params, source: feed } })
        .then((fc) => fc.features.map((f) => ({ ...f, properties: { ...f.properties, feed } })))));
      if (seq !== overlaySeq) return;
      const features = parts.flat().filter((f) => !f.properties.suppressed && f.properties.value > 0);
      withZoneGeometry(features);
      map.getSource('live').setData({ type: 'FeatureCollection', features: features.filter((f) => f.geometry) });
      state.liveOverlay = features.length;
      state.liveOverlayFeeds = [...new Set(features.map((f) => f.properties.feed))].sort();
    } catch (err) {
      if (err.status === 401) stopLive();
    }
  }

  function scheduleAlerts() {
    if (!ALERT_READERS.includes(role)) return;
    clearTimeout(scheduleAlerts.pending);
    scheduleAlerts.pending = setTimeout(loadAlerts, 50);
    // A safety net if the stream is down: look again every 30 s.
    if (!alertsTimer) alertsTimer = setInterval(loadAlerts, 30000);
  }

  async function loadAlerts() {
    const seq = ++alertsSeq;
    try {
      const data = await api('/alerts');
      if (seq !== alertsSeq) return;
      drawAlerts(data);
    } catch (err) {
      if (err.status === 401) {
        stopLive();
        showLogin(t('login.error.expired'));
      } else {
        $('live-status').textContent = t('error.load', { detail: err.message });
      }
    }
  }

  function placeLabel(alert) {
    if (zoneNames.has(alert.place)) return zoneNames.get(alert.place);
    const zone = alert.zone && zoneNames.has(alert.zone) ? ` (${zoneNames.get(alert.zone)})` : '';
    return `${t('popup.cell', { cell: alert.place })}${zone}`;
  }

  function drawAlerts(data) {
    const list = $('alerts');
    const active = data.alerts.filter((a) => a.status === 'open' || a.status === 'acknowledged');
    const openIds = active.map((a) => a.alert_id);
    // Keep a reason being typed: redraw only the alerts whose state changed.
    const typing = list.querySelector('form.reason-form');
    if (typing && openIds.includes(Number(typing.dataset.alertId))) {
      state.alerts = active.map((a) => ({ id: a.alert_id, status: a.status }));
      return;
    }
    list.replaceChildren();
    if (!active.length) list.append(el('li', { className: 'alert-none', textContent: t('alerts.none') }));
    for (const a of active) list.append(alertItem(a));
    state.alerts = active.map((a) => ({ id: a.alert_id, status: a.status }));
    state.alertsLoaded = (state.alertsLoaded ?? 0) + 1;
    $('alerts-count').textContent = t('alerts.count', { n: active.filter((a) => a.status === 'open').length });
  }

  function alertItem(a) {
    const source = sources.find((s) => s.name === a.feed);
    const item = el('li', { className: `alert alert-${a.status}` });
    item.dataset.alertId = String(a.alert_id);
    item.dataset.status = a.status;
    const figures = a.observed == null
      ? t('alerts.withheld')
      : t('alerts.figures', { observed: NUM.format(a.observed), expected: NUM.format(Math.round(a.expected * 10) / 10) });
    item.append(
      el('strong', { textContent: `${source?.label?.[LANG] ?? a.feed} — ${placeLabel(a)}` }),
      el('span', { className: 'alert-line', textContent: `${figures} · ${fmtDateTime(wallOfIso(a.window_start))}–${fmtHour(wallOfIso(a.window_end))}` }),
      el('span', { className: 'alert-line muted', textContent: t(`alerts.method.${a.method}`) + (a.updates > 1 ? ` · ${t('alerts.updates', { n: a.updates })}` : '') }),
    );
    if (a.status === 'acknowledged') {
      item.append(el('span', { className: 'alert-line', textContent: t('alerts.acked', { who: a.acknowledged_by, reason: a.acknowledge_reason }) }));
    }
    if (a.zone && zoneNames.has(a.zone)) {
      const look = el('button', { type: 'button', className: 'alert-drill linkish', textContent: t('alerts.drill') });
      look.addEventListener('click', () => openDrill(a.zone));
      item.append(look);
    }
    if (role === 'operator') {
      const actions = el('div', { className: 'alert-actions' });
      const verbs = a.status === 'open' ? ['acknowledge', 'dismiss'] : ['close', 'dismiss'];
      for (const verb of verbs) {
        const button = el('button', { type: 'button', className: `alert-${verb}`, textContent: t(`alerts.${verb}`) });
        button.addEventListener('click', () => askReason(item, a, verb));
        actions.append(button);
      }
      item.append(actions);
    }
    return item;
  }

  /** The reason form under an alert: required, then the action, then the feed again. */
  function askReason(item, alert, verb) {
    item.querySelector('form.reason-form')?.remove();
    const id = `reason-${alert.alert_id}`;
    const input = el('input', { id, name: 'reason', required: true, maxLength: 500, autocomplete: 'off' });
    const error = el('span', { className: 'error', role: 'alert' });
    const form = el('form', { className: 'reason-form' },
      el('label', { htmlFor: id, textContent: t(`alerts.reason.${verb}`) }), input,
      el('button', { type: 'submit', className: 'reason-submit', textContent: t(`alerts.${verb}`) }),
      el('button', { type: 'button', className: 'reason-cancel', textContent: t('alerts.cancel') }),
      error);
    form.dataset.alertId = String(alert.alert_id);
    form.querySelector('.reason-cancel').addEventListener('click', () => {
      form.remove();
      loadAlerts();
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const reason = input.value.trim();
      if (!reason) {
        error.textContent = t('alerts.reason_needed');
        input.focus();
        return;
      }
      try {
        await api(`/alerts/${alert.alert_id}/${verb}`, { method: 'POST', json: { reason } });
        form.remove();
        $('live-status').textContent = t(`alerts.done.${verb}`);
        await loadAlerts();
      } catch (err) {
        error.textContent = t('error.load', { detail: err.message });
      }
    });
    item.append(form);
    input.focus();
  }

  // ---- events view --------------------------------------------------------------------------
  // Every planned event of the data period (widened by a day on each side); a click on one
  // shows its anticipation: per feed, the expected load summed over the area for each hour
  // from 3 h before to 4 h after the start, with the no-event baseline under it.

  const OFFSETS = [-3, -2, -1, 0, 1, 2, 3, 4];
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };

  function showEventsError(message) {
    const box = $('events-view-error');
    box.textContent = message;
    box.hidden = !message;
    state.error = message || null;
  }

  /** Show the map or the events view; the events list is fetched the first time. */
  async function switchView(next) {
    view = next === 'events' ? 'events' : 'map';
    state.view = view;
    $('map-view').hidden = view !== 'map';
    $('events-view').hidden = view !== 'events';
    for (const button of document.querySelectorAll('#views button[data-view]')) {
      button.setAttribute('aria-pressed', String(button.dataset.view === view));
    }
    if (view === 'map') {
      selectedEvent = null;
      syncUrl(readControls());
      const map = window.belvedere.map;
      if (map) map.resize(); // the container was hidden: its size may have changed
      if (lastTimeline) drawTimeline(lastTimeline);
      showEventsError('');
      setReady($('error').hidden ? '1' : 'error');
      return;
    }
    syncUrl(readControls());
    if (!eventsLoadedOnce) await loadEventList();
    else setReady('1');
  }

  function periodWindow() {
    if (!dataPeriod) return null;
    const startWall = wallOfIso(dataPeriod.start) - DAY;
    const endWall = wallOfIso(dataPeriod.end) + DAY;
    return { startWall, endWall, start: isoUtc(instantOf(startWall)), end: isoUtc(instantOf(endWall)) };
  }

  async function loadEventList() {
    const seq = ++eventsSeq;
    setReady('0');
    showEventsError('');
    $('events-view-status').textContent = t('status.loading');
    const win = periodWindow();
    try {
      const events = await api('/events', { params: win ? { start: win.start, end: win.end } : {} });
      if (seq !== eventsSeq) return;
      events.sort((a, b) => wallOfIso(a.start) - wallOfIso(b.start));
      drawEventTable(events);
      eventsLoadedOnce = true;
      state.eventsLoaded = events.length;
      if (dataPeriod) {
        // The daily report of the last day with data (Marseille time).
        const day = new Date(wallOfIso(dataPeriod.end) - 1).toISOString().slice(0, 10);
        $('daily-pdf').href = `${API}/briefings/daily.pdf?date=${day}&lang=${LANG}`;
        $('daily-pdf').textContent = t('briefing.daily_of', { day: fmtDay(wallOfIso(day)) });
        $('daily-pdf').hidden = false;
      }
      $('events-view-status').textContent = events.length && win
        ? t('eventsview.count', {
          n: events.length, start: fmtDay(win.startWall), end: fmtDay(win.endWall - 1),
        })
        : '';
      const wanted = wantedEvent;
      wantedEvent = null;
      const event = wanted && events.find((ev) => String(ev.source_id) === wanted);
      if (event) {
        await loadAnticipation(event);
        return;
      }
      setReady('1');
    } catch (err) {
      failEventsLoad(err, seq);
    }
  }

  /** A failed load of the events view: back to login on an expired session, else say why
   * (unless a newer load has started since). */
  function failEventsLoad(err, seq) {
    if (seq !== eventsSeq) return;
    $('events-view-status').textContent = '';
    if (err.status === 401) {
      showLogin(t('login.error.expired'));
      return;
    }
    showEventsError(t('error.load', { detail: err.message }));
    setReady('error');
  }

  function drawEventTable(events) {
    const tbody = $('events-table').tBodies[0];
    tbody.replaceChildren();
    if (!events.length) {
      tbody.append(el('tr', {}, el('td', { colSpan: 5, textContent: t('eventsview.none') })));
      return;
    }
    for (const ev of events) {
      const id = String(ev.source_id);
      const open = el('button', {
        type: 'button', className: 'linkish', textContent: ev.title ?? id,
        title: t('eventsview.select', { title: ev.title ?? id }),
      });
      open.addEventListener('click', () => loadAnticipation(ev));
      const attendance = ev.expected_attendance == null ? '' : NUM.format(ev.expected_attendance);
      const row = el('tr', { className: 'event-row' },
        el('td', { textContent: fmtDateTime(wallOfIso(ev.start)) }),
        el('td', { textContent: label('event_kind', ev.kind) }),
        el('td', {}, open),
        el('td', { textContent: ev.venue_name ?? ev.venue ?? '' }),
        el('td', { className: 'num', textContent: attendance }));
      row.dataset.eventId = id;
      row.dataset.kind = ev.kind;
      // The whole row is a target for the mouse; the button keeps it reachable by keyboard.
      row.addEventListener('click', (e) => {
        if (e.target !== open) loadAnticipation(ev);
      });
      tbody.append(row);
    }
  }

  async function loadAnticipation(ev) {
    const seq = ++eventsSeq;
    const id = String(ev.source_id);
    selectedEvent = id;
    syncUrl(readControls());
    setReady('0');
    showEventsError('');
    $('events-view-status').textContent = t('status.loading');
    for (const row of $('events-table').tBodies[0].rows) {
      row.classList.toggle('selected', row.dataset.eventId === id);
    }
    const resolution = Number($('ctl-resolution').value) || 8;
    try {
      const data = await api(`/events/${encodeURIComponent(id)}/anticipation`, { params: { resolution } });
      if (seq !== eventsSeq) return;
      const feeds = drawAnticipation(ev, data, resolution);
      Object.assign(state, {
        anticipationEvent: id, anticipationGranted: data.granted, anticipationK: data.k ?? null,
        anticipationFeeds: feeds,
      });
      $('events-view-status').textContent = '';
      setReady('1');
    } catch (err) {
      failEventsLoad(err, seq);
    }
  }

  /** Feed × offset cells: sums of expected and baseline over the released rows, and how many
   * of the area's places were suppressed. */
  function anticipationCells(rows) {
    const cells = new Map();
    for (const r of rows) {
      if (!OFFSETS.includes(r.offset_h)) continue;
      if (!cells.has(r.feed)) cells.set(r.feed, new Map());
      const byOffset = cells.get(r.feed);
      if (!byOffset.has(r.offset_h)) byOffset.set(r.offset_h, { expected: 0, baseline: 0, shown: 0, hidden: 0 });
      const c = byOffset.get(r.offset_h);
      if (r.suppressed || typeof r.expected !== 'number') {
        c.hidden += 1;
      } else {
        c.expected += r.expected;
        c.baseline += typeof r.baseline === 'number' ? r.baseline : 0;
        c.shown += 1;
      }
    }
    return cells;
  }

  /** Draw the anticipation table; returns the number of feed rows. */
  function drawAnticipation(ev, data, resolution) {
    $('anticipation').hidden = false;
    for (const lang of ['fr', 'en']) {
      $(`anticipation-pdf-${lang}`).href =
        `${API}/events/${encodeURIComponent(ev.source_id)}/briefing.pdf?lang=${lang}`;
    }
    $('anticipation-title').textContent = t('anticipation.title', {
      title: ev.title ?? ev.source_id, when: fmtDateTime(wallOfIso(ev.start)),
    });
    const k = data.k ?? null;
    const level = data.granted === 'cell'
      ? t('granted.level.cell', { resolution })
      : label('granted.level', data.granted);
    $('anticipation-granted').textContent = t(k == null ? 'granted.line_no_k' : 'granted.line', {
      level, bin: label('granted.bin', 'hour'), k,
    });

    const cells = anticipationCells(data.rows ?? []);
    const order = sources.map((s) => s.name);
    const rank = (f) => (order.includes(f) ? order.indexOf(f) : order.length);
    const feeds = [...cells.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const table = $('anticipation-table');
    table.replaceChildren();
    if (!feeds.length) {
      table.append(el('caption', { textContent: t('anticipation.empty') }));
      return 0;
    }
    table.append(el('caption', { textContent: t('anticipation.caption') }));
    const head = el('tr', {}, el('th', { scope: 'col', textContent: t('anticipation.feed') }));
    for (const h of OFFSETS) {
      const sign = h > 0 ? '+' : h < 0 ? '−' : '';
      head.append(el('th', { scope: 'col', className: 'num', textContent: t('anticipation.offset', { h: `${sign}${Math.abs(h)}` }) }));
    }
    table.append(el('thead', {}, head));
    const tbody = el('tbody');
    for (const feed of feeds) {
      const row = el('tr', { className: 'feed-row' }, el('th', { scope: 'row', textContent: label('feed', feed) }));
      row.dataset.feed = feed;
      for (const h of OFFSETS) {
        const c = cells.get(feed).get(h);
        const td = el('td', { className: 'num' });
        if (!c) {
          td.textContent = '–';
        } else if (c.shown === 0) {
          td.className = 'num suppressed';
          td.textContent = t('anticipation.suppressed');
          td.title = t('anticipation.suppressed_title', { k });
        } else {
          td.append(
            el('span', { className: 'expected', textContent: NUM.format(c.expected) }),
            el('small', { className: 'ref', textContent: t('anticipation.ref', { value: NUM.format(c.baseline) }) }),
          );
          if (c.hidden > 0) {
            td.classList.add('partial');
            td.title = t('anticipation.partial', { n: c.hidden });
          }
        }
        row.append(td);
      }
      tbody.append(row);
    }
    table.append(tbody);
    return feeds.length;
  }

  // ---- loading a selection ------------------------------------------------------------------

  /** A zone-level answer may leave geometry to the client: each such feature takes its
   * arrondissement's own (in place). */
  function withZoneGeometry(features) {
    for (const f of features) {
      if (!f.geometry && zoneNames.has(f.properties.place)) {
        f.geometry = zones.features.find((z) => z.properties.zone_id === f.properties.place).geometry;
      }
    }
    return features;
  }

  /** Draw a FeatureCollection of places (`value`, `suppressed`) as the choropleth with its
   * legend. Returns the numeric values. */
  function showPlaces(fc, source) {
    const map = window.belvedere.map;
    withZoneGeometry(fc.features);
    const values = fc.features.map((f) => f.properties.value).filter((v) => typeof v === 'number');
    const suppressedCount = fc.features.filter((f) => f.properties.suppressed).length;
    const classes = values.length ? classBreaks(values) : null;
    map.getSource('choropleth').setData(fc);
    if (classes) map.setPaintProperty('choropleth-fill', 'fill-color', fillColor(classes));
    drawLegend(source, classes, suppressedCount, fc.k);
    return values;
  }

  // ---- the hour scrubber: the past 7 days observed, the next 24 hours forecast ---------------
  // 0 is the hour that starts at the end of the data held (now, when live); negative hours are
  // observed, positive ones forecast. Off (the whole window shown) until the operator moves it.

  const SCRUB_PAST = 168;
  const SCRUB_FUTURE = 23;
  let scrubSeq = 0;
  let forecastCache = null; // { key, data }

  function nowHourWall() {
    return dataPeriod ? Math.floor(wallOfIso(dataPeriod.end) / HOUR) * HOUR : null;
  }

  function setupScrubber() {
    const input = $('scrubber');
    const source = sources.find((s) => s.name === readControls().source);
    const forecastable = source?.kind === 'incidents';
    input.min = String(-SCRUB_PAST);
    input.max = String(forecastable ? SCRUB_FUTURE : -1);
    $('scrubber-note').textContent = forecastable ? t('scrubber.note') : t('scrubber.no_forecast');
  }

  function scrubLabel(offset) {
    const at = nowHourWall() + offset * HOUR;
    const when = fmtDateTime(at);
    return offset < 0 ? t('scrubber.observed', { when }) : t('scrubber.forecast', { when });
  }

  async function scrubTo(offset) {
    const seq = ++scrubSeq;
    const sel = readControls();
    const source = sources.find((s) => s.name === sel.source);
    $('scrubber-out').textContent = scrubLabel(offset);
    $('scrubber').setAttribute('aria-valuetext', scrubLabel(offset));
    $('scrubber-reset').hidden = false;
    setReady('0');
    try {
      let fc;
      const params = { source: sel.source, level: sel.level };
      if (sel.level === 'cell') params.resolution = sel.resolution;
      if (offset < 0) {
        const startWall = nowHourWall() + offset * HOUR;
        fc = await api('/situation/map', { params: {
          ...params, start: isoUtc(instantOf(startWall)), end: isoUtc(instantOf(startWall + HOUR)),
        } });
      } else {
        const key = JSON.stringify(params);
        if (forecastCache?.key !== key) {
          forecastCache = { key, data: await api('/situation/forecast', { params: { ...params, hours: SCRUB_FUTURE + 1 } }) };
        }
        const data = forecastCache.data;
        fc = { type: 'FeatureCollection', granted: data.granted, features: data.features.map((f) => ({
          ...f, properties: { place: f.properties.place, value: f.properties.values[offset], suppressed: false },
        })) };
      }
      if (seq !== scrubSeq) return;
      const values = showPlaces(fc, source);
      Object.assign(state, { scrub: offset, scrubMode: offset < 0 ? 'observed' : 'forecast',
        featureCount: fc.features.length, nonNullCount: values.length, values });
      await mapIdle(window.belvedere.map);
      if (seq === scrubSeq) setReady('1');
    } catch (err) {
      if (seq !== scrubSeq) return;
      if (err.status === 401) {
        showLogin(t('login.error.expired'));
        return;
      }
      showError(t('error.load', { detail: err.message }));
      setReady('error');
    }
  }

  function resetScrubber() {
    scrubSeq++;
    state.scrub = null;
    state.scrubMode = null;
    $('scrubber').value = '0';
    $('scrubber-out').textContent = t('scrubber.off');
    $('scrubber').setAttribute('aria-valuetext', t('scrubber.off'));
    $('scrubber-reset').hidden = true;
  }

  async function loadSelection() {
    resetScrubber();
    setupScrubber();
    forecastCache = null;
    const seq = ++loadSeq;
    const map = window.belvedere.map;
    setReady('0');
    $('status').textContent = t('status.loading');
    const sel = readControls();
    syncUrl(sel);
    const startWall = Date.parse(`${sel.start}T00:00:00Z`);
    const win = { startWall, endWall: startWall + sel.days * DAY };
    const start = isoUtc(instantOf(win.startWall));
    const end = isoUtc(instantOf(win.endWall));
    const mapParams = { source: sel.source, start, end, level: sel.level };
    if (sel.level === 'cell') mapParams.resolution = sel.resolution;

    try {
      const [fc, timeline, events] = await Promise.all([
        api('/situation/map', { params: mapParams }),
        api('/situation/timeline', { params: { source: sel.source, start, end, bin: 'hour' } }),
        api('/events', { params: { start, end } }),
      ]);
      if (seq !== loadSeq) return; // a newer selection superseded this one

      const source = sources.find((s) => s.name === sel.source);
      const values = showPlaces(fc, source);
      map.getSource('events').setData(eventsGeojson(events));
      drawGranted(fc.granted, timeline.granted?.bin, fc.k ?? timeline.k, sel);
      const sourceLabel = source?.label?.[LANG] ?? sel.source;
      drawTimeline({ series: timeline.series, bin: timeline.granted?.bin, events, win, sourceLabel });
      drawEventList(events);

      Object.assign(state, {
        source: sel.source, level: sel.level, resolution: sel.resolution, start, end,
        featureCount: fc.features.length, nonNullCount: values.length,
        granted: fc.granted ?? null, timeBin: timeline.granted?.bin ?? null, k: fc.k ?? null, values,
        timelineValues: timeline.series.map((b) => b.value).filter((v) => typeof v === 'number'),
      });
      showError('');
      await mapIdle(map);
      if (seq !== loadSeq) return;
      $('status').textContent = '';
      setReady('1');
    } catch (err) {
      if (seq !== loadSeq) return;
      $('status').textContent = '';
      if (err.status === 401) {
        showLogin(t('login.error.expired'));
        return;
      }
      showError(t('error.load', { detail: err.message }));
      setReady('error');
    }
  }

  // ---- start-up, login, logout --------------------------------------------------------------

  async function startDashboard(user) {
    showUser(user);
    if (dashboardStarted) {
      startLive(user.role);
      await loadSelection();
      return;
    }
    if (typeof maplibregl === 'undefined') {
      showError(t('map.missing_library'));
      setReady('error');
      return;
    }
    setReady('0');
    try {
      const [health, sourceList, zoneFc, placeFc] = await Promise.all([
        api('/health'), api('/sources'), api('/zones'), api('/places'),
      ]);
      sources = sourceList;
      zones = zoneFc;
      places = placeFc;
      for (const f of zones.features) zoneNames.set(f.properties.zone_id, f.properties.name);
      state.zonesLoaded = zoneNames.size;
      initControls(health);
      window.belvedere.map = await createMap();
      dashboardStarted = true;
      fillDrillZones();
      window.belvedere.map.on('click', 'zones-fill', (e) => {
        const zone = e.features?.[0]?.properties?.zone_id;
        if (zone) openDrill(zone);
      });
      startLive(user.role);
    } catch (err) {
      if (err.status === 401) {
        showLogin(t('login.error.expired'));
      } else {
        showError(t('error.load', { detail: err.message }));
        setReady('error');
      }
      return;
    }
    // Read before loadSelection rewrites the URL (with the map view's parameters only).
    const url = new URLSearchParams(location.search);
    wantedEvent = url.get('event');
    await loadSelection();
    if (url.get('view') === 'events') await switchView('events');
  }

  async function onLogin(event) {
    event.preventDefault();
    const button = $('login-submit');
    const form = event.target;
    $('login-error').textContent = '';
    button.disabled = true;
    button.textContent = t('login.pending');
    try {
      const user = await api('/auth/login', {
        method: 'POST',
        form: { username: form.username.value, password: form.password.value },
      });
      form.password.value = '';
      await startDashboard(user);
    } catch (err) {
      $('login-error').textContent = err.status === 401
        ? t('login.error.bad_credentials')
        : t('login.error.generic', { detail: err.message });
    } finally {
      button.disabled = false;
      button.textContent = t('login.submit');
    }
  }

  async function onLogout() {
    try {
      await api('/auth/logout', { method: 'POST' });
    } finally {
      // A fresh page: nothing released to the previous session stays in memory.
      location.assign(`?lang=${LANG}`);
    }
  }

  function wireUi() {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', onLogout);
    for (const button of document.querySelectorAll('#views button[data-view]')) {
      button.addEventListener('click', () => switchView(button.dataset.view));
    }
    $('controls').addEventListener('submit', (e) => {
      e.preventDefault();
      loadSelection();
    });
    let scrubTimer = null;
    $('scrubber').addEventListener('input', (e) => {
      // Sliding fires many inputs: fetch once the hand rests (keyboard steps go at once).
      const offset = Number(e.target.value);
      $('scrubber-out').textContent = scrubLabel(offset);
      clearTimeout(scrubTimer);
      scrubTimer = setTimeout(() => scrubTo(offset), 120);
    });
    $('scrubber-reset').addEventListener('click', () => loadSelection());
    $('controls').addEventListener('change', (e) => {
      if (e.target.id === 'ctl-level') $('ctl-resolution').disabled = e.target.value !== 'cell';
      if (e.target.id === 'ctl-start' && !e.target.value) return; // half-typed date
      loadSelection();
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => view === 'map' && lastTimeline && drawTimeline(lastTimeline), 150);
    });
  }

  async function boot() {
    wireUi();
    // No session cookie: no need to ask /auth/me (and log a 401) to know we must log in.
    if (body.dataset.session !== '1') {
      showLogin();
      return;
    }
    try {
      await startDashboard(await api('/auth/me'));
    } catch (err) {
      showLogin(err.status === 401 ? '' : t('login.error.generic', { detail: err.message }));
    }
  }

  boot();
})();
