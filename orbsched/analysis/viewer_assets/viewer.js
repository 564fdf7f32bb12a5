/* orbsched replay: a hand-written canvas renderer (no library, no network).
 * Data: <script id="orbsched-data" type="application/json"> written by orbsched/viewer.py
 * (typed arrays in base64, see orbsched/viewer_data.py); land: <script id="orbsched-land">.
 * Test hook: window.orbview (frame, setFrame, stats of the last map drawing). */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("orbsched-data").textContent);
  var LAND = JSON.parse(document.getElementById("orbsched-land").textContent);
  var M = D.meta, N = M.n_sats, NF = M.n_frames;

  function dec(b64, T) {
    var bin = atob(b64), n = bin.length, u = new Uint8Array(n);
    for (var i = 0; i < n; i++) { u[i] = bin.charCodeAt(i); }
    return new T(u.buffer);
  }
  var T = dec(D.t, Float64Array), SUN = dec(D.sun, Float32Array);
  var POS = dec(D.pos, Int16Array), STATE = dec(D.state, Uint8Array);
  var LOAD = dec(D.load, Uint8Array);
  var LINKS = dec(D.links, Int32Array), LINK_T = dec(D.link_t, Float32Array);
  var MIG = dec(D.mig, Int32Array), MIG_T = dec(D.mig_t, Float64Array);
  var ROUTE = dec(D.route, Int32Array), ROUTE_OFF = dec(D.route_off, Int32Array);
  var MARKS = dec(D.marks, Int32Array), MARK_T = dec(D.mark_t, Float64Array);
  var JEV = dec(D.jev, Int32Array), JEV_T = dec(D.jev_t, Float64Array);
  var JOBS = dec(D.jobs, Int32Array), JOB_T = dec(D.job_t, Float64Array);
  var QUEUE = dec(D.queue, Int32Array);
  var S = D.series, ST = dec(S.t, Float64Array), SF = dec(S.fleet, Float32Array);
  var MIG_BINS = dec(S.mig_bins, Int32Array);
  var SAT_UTIL = S.sat_util ? dec(S.sat_util, Uint8Array) : null;
  var SAT_SOC = S.sat_soc ? dec(S.sat_soc, Uint8Array) : null;
  var NS = ST.length, NL = LINKS.length / 2, NM = MIG.length / 4, NK = MARK_T.length;
  var NJE = JEV_T.length, NJ = JOB_T.length / 3;

  var COL = { sunlit: "#f2a900", penumbra: "#8c8c8c", umbra: "#1f3a93", link: "rgba(30,150,60,0.45)",
              mig: "#d62728", land: "#dfe6d3", coast: "#b8c2ad", sea: "#f4f8fb", night: "rgba(10,20,70,0.28)",
              term: "#1f3a93", ring: "#111", station: "#333", dc: "#6a3d9a", sel: "#e0218a" };
  var STATE_COL = [COL.sunlit, COL.penumbra, COL.umbra];
  var MARK_STYLE = { brownout: ["tri", "#000"], battery_floor: ["dia", "#7b2cbf"],
                     migration_failed: ["x", "#d62728"], sdc: ["plus", "#e67e00"], hbm_ue: ["plus", "#e67e00"],
                     crash: ["x", "#e67e00"], host_reboot: ["x", "#8c564b"], gpu_fail: ["x", "#000"],
                     satellite_fail: ["x", "#000"], rollback: ["plus", "#8c564b"], throttle: ["dia", "#ff7f0e"] };
  var MARK_PERSIST_S = Math.max(2 * M.frame_s, 600);
  var $ = function (id) { return document.getElementById(id); };

  // ---------------------------------------------------------------- time and positions
  function utc(t) { return new Date(Date.parse(M.start_utc) + t * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC"; }
  function hours(t) { return (t / 3600).toFixed(2) + " h"; }
  function timeAt(f) {
    var a = Math.floor(f), b = Math.min(a + 1, NF - 1), w = f - a;
    return T[a] + (T[b] - T[a]) * w;
  }
  function frameOf(t) {  // fractional frame of a time
    var lo = 0, hi = NF - 1;
    if (t <= T[0]) { return 0; }
    if (t >= T[NF - 1]) { return NF - 1; }
    while (hi - lo > 1) { var m = (lo + hi) >> 1; if (T[m] <= t) { lo = m; } else { hi = m; } }
    return lo + (t - T[lo]) / (T[hi] - T[lo]);
  }
  var cur = { lat: new Float32Array(N), lon: new Float32Array(N), x: new Float32Array(N), y: new Float32Array(N) };
  function computePositions(f) {
    var a = Math.floor(f), b = Math.min(a + 1, NF - 1), w = f - a;
    for (var i = 0; i < N; i++) {
      var ka = 2 * (a * N + i), kb = 2 * (b * N + i);
      var la = POS[ka] / 100, lb = POS[kb] / 100, oa = POS[ka + 1] / 100, ob = POS[kb + 1] / 100;
      var d = ob - oa;
      if (d > 180) { d -= 360; } else if (d < -180) { d += 360; }
      var lon = oa + d * w;
      if (lon >= 180) { lon -= 360; } else if (lon < -180) { lon += 360; }
      cur.lat[i] = la + (lb - la) * w;
      cur.lon[i] = lon;
      var p = proj(lon, cur.lat[i]);
      cur.x[i] = p[0]; cur.y[i] = p[1];
    }
  }

  // ---------------------------------------------------------------- map view (zoom, pan)
  var map = $("map"), ctx = map.getContext("2d"), W = 0, H = 0, dpr = 1;
  var view = { z: 1, ox: 0, oy: 0 };
  var landCanvas = document.createElement("canvas"), landKey = "";
  function proj(lon, lat) { return [view.ox + (lon + 180) / 360 * W * view.z, view.oy + (90 - lat) / 180 * H * view.z]; }
  function unproj(x, y) { return [(x - view.ox) / (W * view.z) * 360 - 180, 90 - (y - view.oy) / (H * view.z) * 180]; }
  function clampView() {
    view.z = Math.max(1, Math.min(view.z, 40));
    view.ox = Math.min(0, Math.max(view.ox, W - W * view.z));
    view.oy = Math.min(0, Math.max(view.oy, H - H * view.z));
  }
  function resize() {
    dpr = window.devicePixelRatio || 1;
    var w = map.parentElement.clientWidth;
    var ratio = W ? w / W : 1;
    W = w; H = Math.round(w / 2);
    view.ox *= ratio; view.oy *= ratio;
    map.width = Math.round(W * dpr); map.height = Math.round(H * dpr);
    map.style.width = W + "px"; map.style.height = H + "px";
    $("info").style.maxHeight = H + "px";
    clampView();
    panels.forEach(function (p) { p.resize(); });
    draw();
  }
  function drawLand() {
    var key = [W, H, dpr, view.z, view.ox, view.oy].join(",");
    if (key === landKey) { return; }
    landKey = key;
    landCanvas.width = map.width; landCanvas.height = map.height;
    var c = landCanvas.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = COL.sea; c.fillRect(0, 0, W, H);
    c.beginPath();
    LAND.rings.forEach(function (r) {
      var x = r[0], y = r[1];
      for (var i = 0; i < r.length; i += 2) {
        if (i > 0) { x += r[i]; y += r[i + 1]; }
        var p = proj(x / LAND.scale, y / LAND.scale);
        if (i === 0) { c.moveTo(p[0], p[1]); } else { c.lineTo(p[0], p[1]); }
      }
      c.closePath();
    });
    c.fillStyle = COL.land; c.fill();
    c.strokeStyle = COL.coast; c.lineWidth = 0.6; c.stroke();
    c.strokeStyle = "rgba(0,0,0,0.08)"; c.lineWidth = 0.5; c.beginPath();
    for (var lo = -180; lo <= 180; lo += 30) { var a = proj(lo, 90), b = proj(lo, -90); c.moveTo(a[0], a[1]); c.lineTo(b[0], b[1]); }
    for (var la = -60; la <= 60; la += 30) { var e = proj(-180, la), g = proj(180, la); c.moveTo(e[0], e[1]); c.lineTo(g[0], g[1]); }
    c.stroke();
  }

  // ---------------------------------------------------------------- drawing helpers
  // network nodes: satellites 0..N-1, then the ground stations (the engine's host indices)
  function known(i) { return i >= 0 && i < N + D.stations.length; }
  function lonOf(i) { return i < N ? cur.lon[i] : D.stations[i - N].lon; }
  function latOf(i) { return i < N ? cur.lat[i] : D.stations[i - N].lat; }
  function xy(i) { return i < N ? [cur.x[i], cur.y[i]] : proj(lonOf(i), latOf(i)); }
  function seg(c, i, j) {  // a link or route leg between nodes i and j (split at the antimeridian)
    if (!known(i) || !known(j)) { return; }
    var lo1 = lonOf(i), lo2 = lonOf(j), la1 = latOf(i), la2 = latOf(j), a = xy(i), b = xy(j);
    if (Math.abs(lo2 - lo1) <= 180) { c.moveTo(a[0], a[1]); c.lineTo(b[0], b[1]); return; }
    var edge = lo1 > 0 ? 180 : -180, lo2u = lo2 + (edge > 0 ? 360 : -360);
    var f = (edge - lo1) / (lo2u - lo1), lat = la1 + (la2 - la1) * f;
    var p = proj(edge, lat), q = proj(-edge, lat);
    c.moveTo(a[0], a[1]); c.lineTo(p[0], p[1]);
    c.moveTo(q[0], q[1]); c.lineTo(b[0], b[1]);
  }
  function mark(c, shape, x, y, s) {
    c.beginPath();
    if (shape === "tri") { c.moveTo(x - s, y - s); c.lineTo(x + s, y - s); c.lineTo(x, y + s); c.closePath(); c.fill(); }
    else if (shape === "dia") { c.moveTo(x, y - s); c.lineTo(x + s, y); c.lineTo(x, y + s); c.lineTo(x - s, y); c.closePath(); c.fill(); }
    else if (shape === "plus") { c.moveTo(x - s, y); c.lineTo(x + s, y); c.moveTo(x, y - s); c.lineTo(x, y + s); c.stroke(); }
    else { c.moveTo(x - s, y - s); c.lineTo(x + s, y + s); c.moveTo(x + s, y - s); c.lineTo(x - s, y + s); c.stroke(); }
  }
  function routePoint(m, p) {  // the point a fraction p along migration m's route, by screen length
    var a = ROUTE_OFF[m], b = ROUTE_OFF[m + 1], tot = 0, k;
    for (k = a; k < b - 1; k++) { tot += legLen(ROUTE[k], ROUTE[k + 1]); }
    var want = p * tot;
    for (k = a; k < b - 1; k++) {
      var i = ROUTE[k], j = ROUTE[k + 1], l = legLen(i, j);
      if (!known(i) || !known(j)) { return null; }
      if (want <= l || k === b - 2) {
        var w = l > 0 ? Math.min(1, want / l) : 1;
        var dl = lonOf(j) - lonOf(i);
        if (dl > 180) { dl -= 360; } else if (dl < -180) { dl += 360; }
        var lon = lonOf(i) + dl * w; if (lon >= 180) { lon -= 360; } else if (lon < -180) { lon += 360; }
        return proj(lon, latOf(i) + (latOf(j) - latOf(i)) * w);
      }
      want -= l;
    }
    return known(ROUTE[a]) ? xy(ROUTE[a]) : null;
  }
  function legLen(i, j) {
    if (!known(i) || !known(j)) { return 0; }
    var dl = Math.abs(lonOf(j) - lonOf(i)); if (dl > 180) { dl = 360 - dl; }
    return Math.hypot(dl, latOf(j) - latOf(i));
  }

  // ---------------------------------------------------------------- the map at frame f
  var state = { f: 0, playing: false, sel: -1, job: -1, fps: 4 };
  var stats = {};
  function drawNight(c, slat, slon) {
    if (Math.abs(slat) < 0.01) { slat = slat < 0 ? -0.01 : 0.01; }
    var tl = Math.tan(slat * Math.PI / 180), pts = [], edgeY = slat > 0 ? H * view.z + view.oy : view.oy;
    for (var x = 0; x <= W; x += 2) {
      var lon = unproj(x, 0)[0];
      var lat = Math.atan(-Math.cos((lon - slon) * Math.PI / 180) / tl) * 180 / Math.PI;
      pts.push([x, proj(lon, lat)[1]]);
    }
    c.beginPath(); c.moveTo(0, edgeY);
    pts.forEach(function (p) { c.lineTo(p[0], p[1]); });
    c.lineTo(W, edgeY); c.closePath();
    c.fillStyle = COL.night; c.fill();
    c.beginPath(); pts.forEach(function (p, k) { if (k) { c.lineTo(p[0], p[1]); } else { c.moveTo(p[0], p[1]); } });
    c.strokeStyle = COL.term; c.lineWidth = 1.2; c.stroke();
    stats.terminator_y_mid = pts[pts.length >> 1][1];
  }
  function draw() {
    if (!W) { return; }
    var f = state.f, fi = Math.min(NF - 1, Math.round(f)), t = timeAt(f), c = ctx;
    stats = { frame: fi, t_s: t, sats: 0, by_state: [0, 0, 0], links: 0, migrations: 0, marks: 0, rings: 0 };
    computePositions(f);
    drawLand();
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.drawImage(landCanvas, 0, 0);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    var a = Math.floor(f), b = Math.min(a + 1, NF - 1), w = f - a;
    var slat = SUN[2 * a] + (SUN[2 * b] - SUN[2 * a]) * w, dl = SUN[2 * b + 1] - SUN[2 * a + 1];
    if (dl > 180) { dl -= 360; } else if (dl < -180) { dl += 360; }
    var slon = SUN[2 * a + 1] + dl * w; if (slon >= 180) { slon -= 360; } else if (slon < -180) { slon += 360; }
    drawNight(c, slat, slon);
    stats.subsolar = [slat, slon];
    var sp = proj(slon, slat);
    c.fillStyle = "#ffd700"; c.strokeStyle = "#e67e00"; c.lineWidth = 1.5;
    c.beginPath(); c.arc(sp[0], sp[1], 7, 0, 2 * Math.PI); c.fill(); c.stroke();
    // laser links up at t
    c.beginPath();
    for (var l = 0; l < NL; l++) {
      if (LINK_T[2 * l] <= t && LINK_T[2 * l + 1] > t) { seg(c, LINKS[2 * l], LINKS[2 * l + 1]); stats.links++; }
    }
    c.strokeStyle = COL.link; c.lineWidth = 0.7; c.stroke();
    // ground stations and data centres
    D.stations.forEach(function (g) {
      var p = proj(g.lon, g.lat), s = g.dc ? 6 : 4;
      c.fillStyle = g.dc ? COL.dc : "#fff"; c.strokeStyle = g.dc ? COL.dc : COL.station; c.lineWidth = 1.5;
      c.fillRect(p[0] - s, p[1] - s, 2 * s, 2 * s); c.strokeRect(p[0] - s, p[1] - s, 2 * s, 2 * s);
      c.fillStyle = "#333"; c.font = "11px sans-serif"; c.fillText(g.dc ? g.name + " (" + g.dc + ")" : g.name, p[0] + s + 3, p[1] + 4);
    });
    // satellites: coloured by illumination, ringed by load
    var r = Math.max(2.2, Math.min(6, 120 / Math.sqrt(Math.max(N, 1)))) * Math.sqrt(view.z);
    var base = fi * N;
    for (var k = 0; k < 3; k++) {
      c.beginPath();
      for (var i = 0; i < N; i++) {
        if (STATE[base + i] !== k) { continue; }
        c.moveTo(cur.x[i] + r, cur.y[i]); c.arc(cur.x[i], cur.y[i], r, 0, 2 * Math.PI);
        stats.sats++; stats.by_state[k]++;
      }
      c.fillStyle = STATE_COL[k]; c.fill();
    }
    c.strokeStyle = COL.ring; c.lineWidth = Math.max(1.2, r * 0.45);
    for (var j = 0; j < N; j++) {
      var u = LOAD[base + j];
      if (u === 255 || u === 0) { continue; }
      c.beginPath(); c.arc(cur.x[j], cur.y[j], r + c.lineWidth / 2, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * Math.min(u, 250) / 250);
      c.stroke(); stats.rings++;
    }
    // migrations: the route, and a dot moving along it (shown for at least one frame period)
    c.lineWidth = 1.6;
    for (var m = 0; m < NM; m++) {
      var t0 = MIG_T[2 * m], t1 = Math.max(MIG_T[2 * m + 1], t0 + M.frame_s);
      if (t0 > t || t1 <= t) { continue; }
      stats.migrations++;
      c.strokeStyle = MIG[4 * m + 3] === 0 ? "rgba(214,39,40,0.45)" : "rgba(214,39,40,0.8)";
      c.setLineDash(MIG[4 * m + 3] === 0 ? [4, 3] : []);
      c.beginPath();
      for (var q = ROUTE_OFF[m]; q < ROUTE_OFF[m + 1] - 1; q++) { seg(c, ROUTE[q], ROUTE[q + 1]); }
      c.stroke();
      var pt = routePoint(m, (t - t0) / (t1 - t0));
      c.setLineDash([]); c.fillStyle = COL.mig;
      if (pt) { c.beginPath(); c.arc(pt[0], pt[1], 3.5, 0, 2 * Math.PI); c.fill(); }
    }
    c.setLineDash([]);
    // marks: brownouts, faults, failed migrations in the last MARK_PERSIST_S
    c.lineWidth = 2;
    for (var n = 0; n < NK; n++) {
      var tm = MARK_T[n];
      if (tm > t || tm <= t - MARK_PERSIST_S) { continue; }
      var st = MARK_STYLE[M.mark_kinds[MARKS[2 * n + 1]]] || ["x", "#000"], sat = MARKS[2 * n];
      c.globalAlpha = 1 - 0.7 * (t - tm) / MARK_PERSIST_S;
      c.fillStyle = st[1]; c.strokeStyle = st[1];
      mark(c, st[0], cur.x[sat], cur.y[sat] - r - 6, 5);
      stats.marks++;
    }
    c.globalAlpha = 1;
    drawSelection(c, r, t);
    $("clock").textContent = utc(t) + "  (+" + hours(t) + ", frame " + (fi + 1) + "/" + NF + ")";
    var slider = $("slider");
    if (Number(slider.value) !== Math.floor(f)) { slider.value = String(Math.floor(f)); }
    panels.forEach(function (p) { p.cursor(t); });
    if (satPanel) { satPanel.cursor(t); }
    window.orbview.stats = stats;
  }

  // ---------------------------------------------------------------- selection: satellite, job
  var jevByJob = null, jobsBySat = null, jobRow = null;
  function indexJobs() {
    if (jevByJob) { return; }
    jevByJob = {}; jobsBySat = {}; jobRow = {};
    for (var i = 0; i < NJ; i++) { jobRow[JOBS[4 * i]] = i; }
    for (var e = 0; e < NJE; e++) {
      var j = JEV[4 * e], kind = M.job_kinds[JEV[4 * e + 1]], s = JEV[4 * e + 2], p = JEV[4 * e + 3];
      (jevByJob[j] = jevByJob[j] || []).push(e);
      var on = kind === "job_start" ? s : (kind === "migration_end" ? p : -1);
      if (on >= 0) { (jobsBySat[on] = jobsBySat[on] || {})[j] = true; }
    }
  }
  function jobPath(j) {  // satellites the job ran on, in order
    var out = [];
    (jevByJob[j] || []).forEach(function (e) {
      var kind = M.job_kinds[JEV[4 * e + 1]], s = kind === "job_start" ? JEV[4 * e + 2] : (kind === "migration_end" ? JEV[4 * e + 3] : -1);
      if (known(s) && out[out.length - 1] !== s) { out.push(s); }
    });
    return out;
  }
  function drawSelection(c, r, t) {
    if (state.job >= 0) {
      var path = jobPath(state.job);
      c.strokeStyle = COL.sel; c.lineWidth = 2.5; c.beginPath();
      for (var k = 0; k < path.length - 1; k++) { seg(c, path[k], path[k + 1]); }
      c.stroke();
      path.forEach(function (s, k) {
        var p = xy(s);
        c.fillStyle = COL.sel; c.beginPath(); c.arc(p[0], p[1], r + 3, 0, 2 * Math.PI); c.fill();
        c.fillStyle = "#fff"; c.font = "bold 10px sans-serif"; c.fillText(String(k + 1), p[0] - 3, p[1] + 3);
      });
      stats.job_path = path.length;
    }
    if (state.sel >= 0) {
      var i = state.sel;
      c.strokeStyle = COL.sel; c.lineWidth = 2.5;
      c.beginPath(); c.arc(cur.x[i], cur.y[i], r + 6, 0, 2 * Math.PI); c.stroke();
      c.fillStyle = "#222"; c.font = "bold 12px sans-serif"; c.fillText(D.names[i], cur.x[i] + r + 9, cur.y[i] - 6);
    }
  }
  var satPanel = null;
  function fmtT(t) { return isFinite(t) ? (t / 3600).toFixed(2) : "-"; }
  function selectSat(i) {
    state.sel = i; indexJobs();
    var box = $("info");
    if (i < 0) { box.innerHTML = "<p class='hint'>Click a satellite for its time series and jobs; click a job for its path.</p>"; satPanel = null; draw(); return; }
    var fi = Math.round(state.f), ids = Object.keys(jobsBySat[i] || {}).map(Number).sort(function (a, b) { return a - b; });
    var h = "<h3>" + esc(D.names[i]) + " <span class='sub'>(satellite " + i + ")</span></h3>";
    h += "<p>" + ["sunlit", "penumbra", "umbra"][STATE[fi * N + i]] + " at this frame; lat " + cur.lat[i].toFixed(2) + ", lon " + cur.lon[i].toFixed(2) + "</p>";
    if (SAT_UTIL) { h += "<canvas id='satchart' class='panel'></canvas>"; } else { h += "<p class='note'>No per-satellite time series (record.per_satellite: false).</p>"; }
    h += "<p>" + ids.length + " jobs ran here" + (ids.length > 200 ? " (first 200 listed)" : "") + ":</p><table><tr><th>job</th><th>GPUs</th><th>status</th><th>arrival h</th><th>start h</th><th>end h</th></tr>";
    ids.slice(0, 200).forEach(function (j) {
      var row = jobRow[j];
      h += "<tr class='job' data-job='" + j + "'><td>" + j + "</td><td>" + JOBS[4 * row + 1] + "</td><td>" + M.status[JOBS[4 * row + 2]] + "</td><td>" + fmtT(JOB_T[3 * row]) + "</td><td>" + fmtT(JOB_T[3 * row + 1]) + "</td><td>" + fmtT(JOB_T[3 * row + 2]) + "</td></tr>";
    });
    box.innerHTML = h + "</table><div id='jobinfo'></div>";
    satPanel = SAT_UTIL ? new Panel($("satchart"), "utilisation (black), state of charge (blue)", function (p) {
      var u = [], s = [];
      for (var k = 0; k < NS; k++) { u.push(SAT_UTIL[k * N + i] / 250); s.push(SAT_SOC[k * N + i] / 250); }
      p.frame(ST, 0, 1.0); p.line(ST, u, "#111", true); p.line(ST, s, "#1f77b4", true);
    }) : null;
    if (satPanel) { satPanel.resize(); }
    Array.prototype.forEach.call(box.querySelectorAll("tr.job"), function (tr) {
      tr.addEventListener("click", function () { selectJob(Number(tr.getAttribute("data-job"))); });
    });
    draw();
  }
  function selectJob(j) {
    indexJobs(); state.job = j;
    var row = jobRow[j], h = "<h3>Job " + j + "</h3>";
    if (row !== undefined) { h += "<p>" + JOBS[4 * row + 1] + " GPUs, " + M.status[JOBS[4 * row + 2]] + "; arrived at " + fmtT(JOB_T[3 * row]) + " h" + (isFinite(JOB_T[3 * row + 2]) ? ", ended at " + fmtT(JOB_T[3 * row + 2]) + " h" : "") + ". Its satellites, in order, are numbered on the map.</p>"; }
    h += "<ol>";
    (jevByJob[j] || []).forEach(function (e) {
      var kind = M.job_kinds[JEV[4 * e + 1]], s = JEV[4 * e + 2], p = JEV[4 * e + 3];
      var where = kind.indexOf("migration") === 0 ? nodeName(s) + " &rarr; " + nodeName(p) : nodeName(s);
      h += "<li><a href='#' data-t='" + JEV_T[e] + "'>" + hours(JEV_T[e]) + "</a> " + kind.replace("_", " ") + " " + where + "</li>";
    });
    var info = $("jobinfo") || $("info");
    info.innerHTML = h + "</ol>";
    Array.prototype.forEach.call(info.querySelectorAll("a[data-t]"), function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); seek(frameOf(Number(a.getAttribute("data-t")))); });
    });
    draw();
  }
  function nodeName(i) {
    if (i >= 0 && i < N) { return esc(D.names[i]); }
    if (known(i)) { var g = D.stations[i - N]; return esc(g.dc ? g.dc + " (ground)" : g.name + " (ground)"); }
    return "";
  }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (ch) { return "&#" + ch.charCodeAt(0) + ";"; }); }

  // ---------------------------------------------------------------- panels (time series + cursor)
  function Panel(canvas, title, paint) {
    this.c = canvas; this.title = title; this.paint = paint; this.img = document.createElement("canvas");
  }
  Panel.prototype.resize = function () {
    var w = this.c.parentElement.clientWidth, h = 150;
    this.w = w; this.h = h;
    this.c.width = Math.round(w * dpr); this.c.height = Math.round(h * dpr);
    this.c.style.width = w + "px"; this.c.style.height = h + "px";
    this.img.width = this.c.width; this.img.height = this.c.height;
    var g = this.g = this.img.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
    g.fillStyle = "#222"; g.font = "12px sans-serif"; g.fillText(this.title, 44, 13);
    this.paint(this);
    var self = this;
    this.c.onclick = function (ev) {
      var x = ev.clientX - self.c.getBoundingClientRect().left;
      seek(frameOf((x - 40) / (self.w - 50) * M.duration_s));
    };
  };
  Panel.prototype.px = function (t) { return 40 + t / M.duration_s * (this.w - 50); };
  Panel.prototype.py = function (v) { return this.h - 18 - (v - this.lo) / (this.hi - this.lo) * (this.h - 38); };
  Panel.prototype.frame = function (x, lo, hi) {
    var g = this.g; this.lo = lo; this.hi = hi > lo ? hi : lo + 1;
    g.strokeStyle = "#ccc"; g.lineWidth = 1; g.strokeRect(40, 20, this.w - 50, this.h - 38);
    g.fillStyle = "#555"; g.font = "10px sans-serif";
    g.fillText(fmtNum(this.hi), 2, 26); g.fillText(fmtNum(this.lo), 2, this.h - 18);
    for (var k = 0; k <= 4; k++) { var t = M.duration_s * k / 4; g.fillText(hours(t), this.px(t) - 12, this.h - 4); }
  };
  Panel.prototype.line = function (x, y, col, step, dash) {
    var g = this.g; g.strokeStyle = col; g.lineWidth = 1.3; g.setLineDash(dash || []); g.beginPath();
    var prevX = this.px(0);
    for (var k = 0; k < x.length; k++) {
      var X = this.px(x[k]), Y = this.py(y[k]);
      if (k === 0) { g.moveTo(step ? prevX : X, Y); }
      if (step) { g.lineTo(X, Y); } else { g.lineTo(X, Y); }
      if (step && k + 1 < x.length) { g.lineTo(X, this.py(y[k + 1])); }
    }
    g.stroke(); g.setLineDash([]);
  };
  Panel.prototype.cursor = function (t) {
    var c = this.c.getContext("2d");
    c.setTransform(1, 0, 0, 1, 0, 0); c.drawImage(this.img, 0, 0);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    var x = this.px(t); c.strokeStyle = COL.sel; c.lineWidth = 1.5;
    c.beginPath(); c.moveTo(x, 18); c.lineTo(x, this.h - 16); c.stroke();
  };
  function fmtNum(v) { return Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2); }
  function col(k) { var a = []; for (var i = 0; i < NS; i++) { a.push(SF[5 * i + k]); } return a; }
  var panels = [];
  function addPanels() {
    var frameT = T;
    panels.push(new Panel($("p_util"), "fleet utilisation by illumination (stacked)", function (p) {
      var su = col(0), pe = col(1), um = col(2), top = 0;
      for (var i = 0; i < NS; i++) { top = Math.max(top, su[i] + pe[i] + um[i]); }
      p.frame(ST, 0, Math.max(0.05, Math.min(1, top * 1.1)));
      var g = p.g, layers = [[um, COL.umbra], [pe, COL.penumbra], [su, COL.sunlit]], acc = new Array(NS).fill(0);
      layers.forEach(function (L) {
        g.fillStyle = L[1]; g.beginPath(); g.moveTo(p.px(0), p.py(acc[0]));
        var lo = acc.slice();
        for (var i = 0; i < NS; i++) { var x0 = i ? p.px(ST[i - 1]) : p.px(0); acc[i] += L[0][i]; g.lineTo(x0, p.py(acc[i])); g.lineTo(p.px(ST[i]), p.py(acc[i])); }
        for (var k = NS - 1; k >= 0; k--) { g.lineTo(p.px(ST[k]), p.py(lo[k])); g.lineTo(k ? p.px(ST[k - 1]) : p.px(0), p.py(lo[k])); }
        g.closePath(); g.fill();
      });
    }));
    panels.push(new Panel($("p_soc"), "state of charge: fleet mean (blue), minimum (red), floor (dashed)", function (p) {
      var mean = col(3), mn = col(4), lo = M.floor_soc !== null ? Math.min(M.floor_soc, 1) : 1;
      mn.forEach(function (v) { if (isFinite(v)) { lo = Math.min(lo, v); } });
      p.frame(ST, Math.max(0, lo - 0.05), 1.0);
      p.line(ST, mean, "#1f77b4", true); p.line(ST, mn, "#d62728", true);
      if (M.floor_soc !== null) { p.line([0, M.duration_s], [M.floor_soc, M.floor_soc], "#555", false, [4, 3]); }
    }));
    panels.push(new Panel($("p_queue"), "jobs waiting (grey), running (green), migrating (red)", function (p) {
      var w = [], ru = [], mi = [], hi = 1;
      for (var f = 0; f < NF; f++) { w.push(QUEUE[3 * f]); ru.push(QUEUE[3 * f + 1]); mi.push(QUEUE[3 * f + 2]); hi = Math.max(hi, QUEUE[3 * f], QUEUE[3 * f + 1], QUEUE[3 * f + 2]); }
      p.frame(frameT, 0, hi * 1.05);
      p.line(frameT, w, "#888", false); p.line(frameT, ru, "#2ca02c", false); p.line(frameT, mi, "#d62728", false);
    }));
    panels.push(new Panel($("p_mig"), "migrations started per " + (M.sample_s / 60).toFixed(0) + " min", function (p) {
      var hi = 1; for (var i = 0; i < MIG_BINS.length; i++) { hi = Math.max(hi, MIG_BINS[i]); }
      p.frame(ST, 0, hi * 1.05); var g = p.g; g.fillStyle = "rgba(31,119,180,0.75)";
      for (var k = 0; k < MIG_BINS.length; k++) { var x0 = p.px(k ? ST[k - 1] : 0), x1 = p.px(ST[k]); g.fillRect(x0, p.py(MIG_BINS[k]), Math.max(1, x1 - x0 - 0.5), p.py(0) - p.py(MIG_BINS[k])); }
    }));
  }

  // ---------------------------------------------------------------- controls
  function seek(f) { state.f = Math.max(0, Math.min(NF - 1, f)); draw(); }
  var last = 0;
  function tick(now) {
    if (!state.playing) { return; }
    var dt = last ? (now - last) / 1000 : 0; last = now;
    var f = state.f + dt * state.fps;
    if (f >= NF - 1) { f = NF - 1; setPlaying(false); }
    state.f = f; draw();
    if (state.playing) { requestAnimationFrame(tick); }
  }
  function setPlaying(on) {
    state.playing = on; $("play").textContent = on ? "Pause" : "Play";
    if (on) { if (state.f >= NF - 1) { state.f = 0; } last = 0; requestAnimationFrame(tick); }
  }
  function init() {
    document.title = "orbsched replay: " + M.title;
    $("title").textContent = "orbsched replay: " + M.title;
    $("sub").textContent = N + " satellites, " + hours(M.duration_s) + " from " + M.start_utc + "; " + NF + " frames every " + M.frame_s + " s. Positions: " + M.positions + "; links: " + M.links + "; migration routes reconstructed (" + M.routes_reconstructed + " of " + NM + ")." + (M.notes.length ? " " + M.notes.join("; ") + "." : "");
    var slider = $("slider"); slider.max = String(NF - 1); slider.value = "0";
    slider.addEventListener("input", function () { setPlaying(false); seek(Number(slider.value)); });
    $("play").addEventListener("click", function () { setPlaying(!state.playing); });
    var sp = $("speed");
    [1, 2, 4, 10, 20, 60].forEach(function (fps) {
      var o = document.createElement("option"); o.value = String(fps);
      o.textContent = (fps * M.frame_s / 60).toFixed(fps * M.frame_s < 600 ? 1 : 0) + " min / s";
      if (fps === 4) { o.selected = true; } sp.appendChild(o);
    });
    sp.addEventListener("change", function () { state.fps = Number(sp.value); });
    document.addEventListener("keydown", function (ev) {
      if (ev.target.tagName === "INPUT" && ev.target.type !== "range") { return; }
      if (ev.key === " ") { ev.preventDefault(); setPlaying(!state.playing); }
      else if (ev.key === "ArrowRight" && ev.target.type !== "range") { seek(Math.floor(state.f) + 1); }
      else if (ev.key === "ArrowLeft" && ev.target.type !== "range") { seek(Math.ceil(state.f) - 1); }
    });
    map.addEventListener("click", function (ev) {
      if (dragged) { dragged = false; return; }
      var rect = map.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top, best = -1, bd = 144;
      for (var i = 0; i < N; i++) { var d = (cur.x[i] - x) * (cur.x[i] - x) + (cur.y[i] - y) * (cur.y[i] - y); if (d < bd) { bd = d; best = i; } }
      if (best < 0) { state.job = -1; }
      selectSat(best);
    });
    map.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var rect = map.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
      var z = view.z * (ev.deltaY < 0 ? 1.25 : 0.8), k = Math.max(1, Math.min(z, 40)) / view.z;
      view.ox = x - (x - view.ox) * k; view.oy = y - (y - view.oy) * k; view.z *= k;
      clampView(); draw();
    }, { passive: false });
    var drag = null, dragged = false;
    map.addEventListener("mousedown", function (ev) { drag = [ev.clientX, ev.clientY, view.ox, view.oy, false]; });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) { return; }
      var dx = ev.clientX - drag[0], dy = ev.clientY - drag[1];
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag[4] = true; }
      view.ox = drag[2] + dx; view.oy = drag[3] + dy; clampView(); draw();
    });
    window.addEventListener("mouseup", function () { dragged = !!(drag && drag[4]); drag = null; });
    map.addEventListener("dblclick", function () { view.z = 1; view.ox = 0; view.oy = 0; draw(); });
    addPanels();
    window.addEventListener("resize", resize);
    selectSat(-1);
    resize();
    document.body.setAttribute("data-ready", "1");
  }
  window.orbview = {
    n_sats: N, n_frames: NF, meta: M, stats: {},
    setFrame: function (f) { setPlaying(false); seek(f); return window.orbview.stats; },
    frame: function () { return state.f; },
    selectSat: function (i) { selectSat(i); }, selectJob: function (j) { selectJob(j); },
    project: function (lon, lat) { return proj(lon, lat); }
  };
  init();
})();
