// belvedere — the field agents' report form (a phone in the street).
// What, where, when and a short precision: no photo (red line), the text is redacted at the
// door, the agent is pseudonymised. Everything goes through the JSON API with the session.
(() => {
  'use strict';

  const body = document.body;
  const API = body.dataset.api;
  const T = JSON.parse(document.getElementById('i18n').textContent);
  const $ = (id) => document.getElementById(id);
  const t = (key, params = {}) => (T[key] ?? key)
    .replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  const state = { place: null, sent: 0, role: null };
  window.belvedereAgent = { state, map: null };

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  /** The CSRF cookie's value, sent back in a header on unsafe requests (double submit). */
  function csrfToken() {
    const found = document.cookie.split('; ').find((c) => c.startsWith('belvedere_csrf='));
    return found ? decodeURIComponent(found.slice('belvedere_csrf='.length)) : '';
  }

  async function api(path, { method = 'GET', json = null, form = null } = {}) {
    const headers = { Accept: 'application/json' };
    let payload;
    if (json) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(json);
    } else if (form) {
      payload = new URLSearchParams(form);
    }
    if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
    const response = await fetch(API + path, { method, headers, body: payload, credentials: 'same-origin' });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail ?? response.statusText);
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  function show(section) {
    $('login').hidden = section !== 'login';
    $('report').hidden = section !== 'report';
    body.dataset.ready = '1';
  }

  /** Local time of the phone, as the datetime-local field wants it. */
  function localInputValue(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function setPlace(lat, lon, how) {
    state.place = { lat: Math.round(lat * 1e5) / 1e5, lon: Math.round(lon * 1e5) / 1e5 };
    $('place').textContent = t(how === 'gps' ? 'agent.place_gps' : 'agent.place_tap', {
      lat: state.place.lat.toFixed(5), lon: state.place.lon.toFixed(5),
    });
    const map = window.belvedereAgent.map;
    if (map && map.getSource('here')) {
      map.getSource('here').setData({ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: {} });
      if (how === 'gps') map.easeTo({ center: [lon, lat], zoom: Math.max(map.getZoom(), 14) });
    }
  }

  async function startMap() {
    if (typeof maplibregl === 'undefined' || window.belvedereAgent.map) return;
    const zones = await api('/zones');
    const map = new maplibregl.Map({
      container: 'agent-map',
      style: { version: 8, sources: {}, layers: [{ id: 'sea', type: 'background', paint: { 'background-color': '#bcd6e8' } }] },
      center: [5.39, 43.29], zoom: 10.5, dragRotate: false, pitchWithRotate: false,
      attributionControl: { compact: true },
    });
    window.belvedereAgent.map = map;
    map.on('load', () => {
      map.addSource('zones', { type: 'geojson', data: zones, attribution: t('map.attribution') });
      map.addSource('here', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
      map.addLayer({ id: 'zones-fill', type: 'fill', source: 'zones', paint: { 'fill-color': '#f5f2ea' } });
      map.addLayer({ id: 'zones-line', type: 'line', source: 'zones', paint: { 'line-color': '#3d3d3d', 'line-width': 1 } });
      map.addLayer({ id: 'here', type: 'circle', source: 'here', paint: {
        'circle-radius': 8, 'circle-color': '#c0392b', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2,
      } });
      if (state.place) setPlace(state.place.lat, state.place.lon, 'tap');
    });
    map.on('click', (e) => setPlace(e.lngLat.lat, e.lngLat.lng, 'tap'));
  }

  async function startForm() {
    const me = await api('/auth/me');
    state.role = me.role;
    if (!['agent', 'operator'].includes(me.role)) {
      $('login-error').textContent = t('agent.wrong_role', { role: me.role });
      show('login');
      return;
    }
    $('when').value = localInputValue(new Date());
    show('report');
    startMap().catch(() => { /* the GPS button still works without the map */ });
  }

  function wire() {
    $('login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      $('login-error').textContent = '';
      try {
        await api('/auth/login', { method: 'POST', form: { username: $('login-username').value, password: $('login-password').value } });
        await startForm();
      } catch (err) {
        $('login-error').textContent = err.status === 401 ? t('login.error.bad_credentials') : err.message;
      }
    });
    $('locate').addEventListener('click', () => {
      if (!navigator.geolocation) {
        $('place').textContent = t('agent.no_gps');
        return;
      }
      $('place').textContent = t('agent.locating');
      navigator.geolocation.getCurrentPosition(
        (pos) => setPlace(pos.coords.latitude, pos.coords.longitude, 'gps'),
        () => { $('place').textContent = t('agent.no_gps'); },
        { enableHighAccuracy: true, timeout: 10000 },
      );
    });
    $('report-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      $('report-error').textContent = '';
      $('report-done').textContent = '';
      const category = new FormData($('report-form')).get('category');
      if (!category) {
        $('report-error').textContent = t('agent.need_category');
        return;
      }
      if (!state.place) {
        $('report-error').textContent = t('agent.need_place');
        return;
      }
      const when = new Date($('when').value);
      if (Number.isNaN(when.getTime())) {
        $('report-error').textContent = t('agent.need_time');
        return;
      }
      $('report-submit').disabled = true;
      try {
        const answer = await api('/field-reports', { method: 'POST', json: {
          category, lat: state.place.lat, lon: state.place.lon,
          created_at: when.toISOString(), comment: $('comment').value,
        } });
        state.sent += 1;
        body.dataset.sent = String(state.sent);
        state.lastAnswer = answer;
        $('report-done').textContent = answer.stored ? t('agent.sent', { zone: answer.zone ?? '' }) : t('agent.refused', { reason: answer.reason ?? '' });
        if (answer.stored) {
          $('comment').value = '';
          $('when').value = localInputValue(new Date());
        }
      } catch (err) {
        if (err.status === 401) {
          show('login');
          return;
        }
        $('report-error').textContent = t('agent.error', { detail: err.message });
      } finally {
        $('report-submit').disabled = false;
      }
    });
  }

  async function boot() {
    wire();
    if (body.dataset.session !== '1') {
      show('login');
      return;
    }
    try {
      await startForm();
    } catch {
      show('login');
    }
  }

  boot();
})();
