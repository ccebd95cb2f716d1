// avarisk web map: sites, a day picker (latest by default), the danger-class tiles, zones with popups, the EAWS
// legend and links to the COGs and the STAC item. Everything comes from this server; no third-party tiles.
(function () {
  "use strict";
  const LEVELS = ["", "Very low", "Low", "Moderate", "High", "Very high"];
  const COLOURS = ["#999", "#ccff66", "#ffff00", "#ff9900", "#ff0000", "#000000"];
  const map = L.map("map", { zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  map.setView([46.5, 9.0], 7);
  const $ = (id) => document.getElementById(id);
  const state = { sites: [], site: null, outline: null, tiles: null, zones: null };

  function status(text) {
    $("status").textContent = text || "";
  }

  async function getJson(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  }

  function fmt(x, digits) {
    return typeof x === "number" ? x.toFixed(digits) : "n/a";
  }

  async function loadSites() {
    const data = await getJson("/api/sites");
    state.sites = data.sites;
    const ul = $("sites");
    ul.innerHTML = "";
    if (!state.sites.length) {
      ul.innerHTML = '<li class="muted">no published site yet</li>';
      return;
    }
    for (const s of state.sites) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.textContent = s.title || s.id;
      b.dataset.site = s.id;
      b.onclick = () => selectSite(s.id);
      li.appendChild(b);
      ul.appendChild(li);
    }
    const wanted = new URLSearchParams(location.search).get("site");
    selectSite(state.sites.some((s) => s.id === wanted) ? wanted : state.sites[0].id);
  }

  async function selectSite(id) {
    state.site = state.sites.find((s) => s.id === id);
    document.querySelectorAll("#sites button").forEach((b) => b.classList.toggle("active", b.dataset.site === id));
    if (state.outline) map.removeLayer(state.outline);
    const bb = state.site.bbox;
    if (Array.isArray(bb) && bb.length >= 4) {
      const bounds = [[bb[1], bb[0]], [bb[3], bb[2]]];
      state.outline = L.rectangle(bounds, { color: "#555", weight: 1, dashArray: "4 4", fill: false }).addTo(map);
      map.fitBounds(bounds);
    }
    const d = await getJson("/api/sites/" + id + "/dates");
    const sel = $("date");
    sel.innerHTML = "";
    for (const day of d.dates.slice().reverse()) {
      const o = document.createElement("option");
      o.value = day;
      o.textContent = day + (day === d.latest ? " (latest)" : "");
      sel.appendChild(o);
    }
    sel.disabled = d.dates.length === 0;
    if (d.latest) sel.value = d.latest;
    sel.onchange = () => {
      showDay(id, sel.value);
      drawSeason(sel.value);
    };
    const coll = await getJson("/api/sites/" + id).catch(() => null);
    state.season = coll ? (coll.links || []).filter((l) => l.rel === "item" && typeof l["avarisk:hazard"] === "number") : [];
    drawSeason(sel.value);
    if (sel.value) await showDay(id, sel.value);
    else status("no published day for this site");
  }

  // The season beside the day picker: each published day's hazard (from the Collection's item links), the alert
  // threshold dashed, alert days shaded, the shown day in red; a click picks the nearest day.
  function drawSeason(day) {
    const box = $("season");
    const days = state.season || [];
    if (days.length < 2) {
      box.innerHTML = "";
      return;
    }
    const w = 240, h = 70, n = days.length - 1;
    const top = Math.max(...days.map((l) => Math.max(l["avarisk:hazard"], l["avarisk:alert_threshold"] || 0)), 1e-9);
    const x = (i) => (i / n) * w;
    const y = (v) => h - 4 - (v / top) * (h - 8);
    let svg = '<svg viewBox="0 0 ' + w + " " + h + '" preserveAspectRatio="none">';
    days.forEach((l, i) => {
      if (l["avarisk:alert_active"]) svg += '<rect class="alert" x="' + (x(i) - w / n / 2) + '" y="0" width="' + w / n + '" height="' + h + '"/>';
    });
    const t = days[days.length - 1]["avarisk:alert_threshold"];
    if (typeof t === "number") svg += '<line class="threshold" x1="0" x2="' + w + '" y1="' + y(t) + '" y2="' + y(t) + '"/>';
    svg += '<polyline class="hazard" points="' + days.map((l, i) => x(i) + "," + y(l["avarisk:hazard"])).join(" ") + '"/>';
    const k = days.findIndex((l) => l.title === day);
    if (k >= 0) svg += '<line class="today" x1="' + x(k) + '" x2="' + x(k) + '" y1="0" y2="' + h + '"/>';
    box.innerHTML = svg + "</svg>";
    box.firstChild.onclick = (ev) => {
      const r = box.firstChild.getBoundingClientRect();
      const i = Math.round(((ev.clientX - r.left) / r.width) * n);
      const sel = $("date");
      sel.value = days[Math.max(0, Math.min(n, i))].title;
      sel.onchange();
    };
  }

  async function showDay(id, day) {
    status("loading " + day + "…");
    if (state.tiles) map.removeLayer(state.tiles);
    if (state.zones) map.removeLayer(state.zones);
    state.tiles = L.tileLayer("/tiles/" + id + "/" + day + "/{z}/{x}/{y}.png", {
      opacity: 0.75,
      maxZoom: 18,
      attribution: "avarisk risk classes",
    }).addTo(map);
    const [item, zones] = await Promise.all([
      getJson("/api/sites/" + id + "/" + day),
      getJson("/api/sites/" + id + "/" + day + "/zones.geojson").catch(() => null),
    ]);
    if (zones) {
      state.zones = L.geoJSON(zones, {
        style: (f) => ({ color: COLOURS[f.properties.level] || "#333", weight: 1.5, fillOpacity: 0 }),
        onEachFeature: (f, layer) => {
          const p = f.properties || {};
          layer.bindPopup(
            '<div class="zone-popup"><b>avarisk risk class ' + esc(p.level) + " – " + esc(LEVELS[p.level] || "?") + "</b>" +
              "Area: " + fmt(p.area_km2, 2) + " km²<br>" +
              "Max probability: " + fmt(p.max_probability, 2) + "<br>" +
              "Mean probability: " + fmt(p.mean_probability, 2) + "</div>"
          );
        },
      }).addTo(map);
    }
    const links = ['<a href="/api/sites/' + id + "/" + day + '" target="_blank">STAC item</a>'];
    for (const [key, a] of Object.entries(item.assets || {})) {
      if (/\.tif$/.test(a.href)) {
        links.push('<a href="' + esc(a.href) + '">' + esc(a.title || key) + " (COG)</a>");
      }
    }
    $("links").innerHTML = links.join("");
    $("legend").hidden = false;
    document.body.dataset.shown = id + "/" + day;
    status("");
  }

  $("legend").hidden = true;
  loadSites().catch((e) => status("error: " + e.message));
})();
