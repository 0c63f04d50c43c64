// The zoomable map over a search's results. The page loads this file (and Leaflet, from
// our own static files) only when the operator configured a tile server (MAP_TILE_URL);
// it replaces the server's drawing with the same markers, numbered as the list. The
// sentences under the map stay for screen readers, and without this script the drawing
// is the map.
(function () {
  "use strict";
  var data = document.getElementById("carte-config");
  var figure = document.getElementById("carte");
  if (!data || !figure || !window.L) { return; }
  var config = JSON.parse(data.textContent);
  var drawing = figure.querySelector(".results-map__drawing");
  var title = document.getElementById("carte-titre");

  var container = document.createElement("div");
  container.className = "results-map__tiles";
  container.setAttribute("role", "region");
  container.setAttribute("aria-label", title ? title.textContent : "");
  figure.insertBefore(container, drawing);
  figure.classList.add("results-map--tiles");

  // The credit is the operator's plain text: never read as HTML.
  var credit = document.createElement("span");
  credit.textContent = config.attribution;

  var map = L.map(container, {
    // The page scrolls under the wheel; zoom with the buttons, a pinch or the keyboard.
    scrollWheelZoom: false,
    zoomControl: false
  });
  L.control.zoom({
    zoomInTitle: figure.dataset.zoomIn,
    zoomOutTitle: figure.dataset.zoomOut
  }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  L.tileLayer(config.tiles, { attribution: credit.innerHTML, maxZoom: 18 }).addTo(map);
  map.fitBounds(config.bounds);

  L.circleMarker(config.place, {
    radius: 7, color: "#ffffff", weight: 2, fillColor: "#ce0500", fillOpacity: 1
  }).bindTooltip(config.place_label).addTo(map);
  // The last added is on top: number 1 shows whole.
  config.sites.slice().reverse().forEach(function (site) {
    L.marker(site.at, {
      icon: L.divIcon({ className: "results-map__pin", html: String(site.number), iconSize: [26, 26] }),
      keyboard: false,
      title: site.number + ". " + site.name
    }).addTo(map);
  });
})();
