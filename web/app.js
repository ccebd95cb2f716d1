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
    sel.onchange = () => showDay(id, sel.value);
    if (sel.value) await showDay(id, sel.value);
    else status("no published day for this site");
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
