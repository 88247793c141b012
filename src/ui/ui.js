// exp ui: the experiments filter, learning curves drawn as SVG, and the live epoch table.
// Text from the log is only ever set with textContent, never parsed as HTML.
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function byId(id) { return document.getElementById(id); }
  function data(id) { var el = byId(id); return el ? JSON.parse(el.textContent) : null; }

  // The same rounding as the server's tables (report::html::for_people).
  function fmt(v) {
    if (typeof v !== "number" || !isFinite(v) || Number.isInteger(v)) { return String(v); }
    var a = Math.abs(v);
    var d = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(a)));
    return v.toFixed(d);
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // series: [{name, values: [number]}], drawn against their position (epoch in order).
  function drawCurves(svg, series) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var W = 760, H = 300, L = 50, R = 170, T = 15, B = 35;
    var all = [];
    series.forEach(function (s) { all = all.concat(s.values); });
    if (all.length === 0) {
      svg.appendChild(el("text", { x: 20, y: 40, "class": "nodata" }, "No epochs recorded yet."));
      return;
    }
    var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
    if (hi - lo < 0.02) { lo -= 0.01; hi += 0.01; }
    var n = Math.max.apply(null, series.map(function (s) { return s.values.length; }));
    var x = function (i) { return L + (n <= 1 ? 0 : i * (W - L - R) / (n - 1)); };
    var y = function (v) { return T + (hi - v) * (H - T - B) / (hi - lo); };
    svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999" }));
    [lo, (lo + hi) / 2, hi].forEach(function (v) {
      svg.appendChild(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11 }, fmt(v)));
    });
    svg.appendChild(el("text", { x: (W - R + L) / 2, y: H - 8, "text-anchor": "middle", "font-size": 11 }, "epoch, in order (" + n + ")"));
    series.forEach(function (s, k) {
      var colour = COLOURS[k % COLOURS.length];
      var points = s.values.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); }).join(" ");
      svg.appendChild(el("polyline", { points: points, fill: "none", stroke: colour, "stroke-width": 2 }));
      s.values.forEach(function (v, i) {
        var dot = el("circle", { cx: x(i), cy: y(v), r: 3, fill: colour });
        dot.appendChild(el("title", {}, s.name + " " + (i + 1) + ": " + fmt(v)));
        svg.appendChild(dot);
      });
      svg.appendChild(el("rect", { x: W - R + 12, y: T + 16 * k, width: 10, height: 10, fill: colour }));
      svg.appendChild(el("text", { x: W - R + 28, y: T + 9 + 16 * k, "font-size": 12 }, s.name));
    });
  }

  // The experiments page: rows whose text holds the filter box's words.
  var filter = byId("filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll("#experiments tbody tr").forEach(function (tr) {
        var text = tr.getAttribute("data-filter") || "";
        tr.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
    });
  }

  // An experiment's page: append the epochs recorded after the page was made.
  var table = byId("epochs");
  if (table) {
    var name = table.getAttribute("data-experiment");
    var after = Number(table.getAttribute("data-after"));
    var rows = data("epochs-data") || [];
    var body = table.tBodies[0];
    var curve = byId("curve");
    var redraw = function () {
      drawCurves(curve, [
        { name: "val accuracy", values: rows.map(function (r) { return r.accuracy; }) },
        { name: "val macro-F1", values: rows.map(function (r) { return r.macro_f1; }) }
      ]);
    };
    var append = function (r) {
      var tr = document.createElement("tr");
      [r.seq, r.phase, r.index, r.epoch, fmt(r.train_loss), fmt(r.accuracy), fmt(r.macro_f1),
        r.peak_lr.toExponential(2), fmt(r.samples_per_sec), fmt(r.duration_s)].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 1) { td.className = "k"; }
        td.textContent = String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
      rows.push(r);
    };
    var liveNote = byId("live");
    var poll = function () {
      fetch("/api/x/" + encodeURIComponent(name) + "/live?after=" + after, { cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (live) {
          byId("status").textContent = live.status;
          byId("last-seq").textContent = live.last_seq === null ? "-" : String(live.last_seq);
          if (live.epochs.length > 0) {
            live.epochs.forEach(append);
            after = live.epochs[live.epochs.length - 1].seq;
            table.setAttribute("data-after", String(after));
            redraw();
          }
          liveNote.textContent = "live: checked " + new Date().toLocaleTimeString();
        })
        .catch(function (e) { liveNote.textContent = "live: " + e; })
        .then(function () { setTimeout(poll, 1000); });
    };
    redraw();
    setTimeout(poll, 1000);
  }

  // The compare page: every member's validation macro-F1 per epoch.
  var compareSvg = byId("compare-curves");
  if (compareSvg) {
    var curves = data("curves-data") || {};
    drawCurves(compareSvg, Object.keys(curves).map(function (member) {
      return { name: member, values: curves[member].map(function (p) { return p.val_macro_f1; }) };
    }));
  }
})();
