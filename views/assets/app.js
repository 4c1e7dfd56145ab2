// Dashboard behaviour that HTML alone does not give: live-socket status, toasts, new-row highlight, uPlot charts.
// No inline scripts anywhere (the pages run under a strict Content-Security-Policy).
(function () {
  "use strict";

  function setLive(text, on) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("on", !!on);
  }
  document.body.addEventListener("htmx:wsOpen", function () { setLive("live", true); });
  document.body.addEventListener("htmx:wsClose", function () { setLive("reconnecting…", false); });

  // Highlight rows pushed into the feed and drop the "no messages" note.
  var feed = document.getElementById("feed");
  if (feed && "MutationObserver" in window) {
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeType === 1 && n.classList.contains("feed-row")) n.classList.add("new");
        });
      });
      var empty = document.getElementById("feed-empty");
      if (empty && feed.children.length) empty.remove();
    }).observe(feed, { childList: true });
  }

  // Toasts: dismiss on click, fade out on their own after a while.
  var toasts = document.getElementById("toasts");
  if (toasts) {
    toasts.addEventListener("click", function (e) {
      var t = e.target;
      if (t && t.classList && t.classList.contains("close")) t.parentElement.remove();
    });
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeType === 1) setTimeout(function () { n.remove(); }, 20000);
        });
      });
    }).observe(toasts, { childList: true });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  var island = document.getElementById("analytics-data");
  if (island && window.uPlot) drawCharts(island);

  function drawCharts(island) {
    var data = JSON.parse(island.textContent || "{}");
    var palette = ["#1f4fd1", "#d9822b", "#17703a", "#c62f2f", "#7a3fd1", "#0e8a8a", "#8a5a00"];
    var colors = { negative: "#c62f2f", frustrated: "#8e1b1b", angry: "#5c0f0f", neutral: "#8792a2", positive: "#17703a", unknown: "#c5ccd9" };

    // Rows of {t, key, n} → uPlot's aligned columns: [times, series1, series2, ...].
    var pivot = function (rows, key) {
      var times = Array.from(new Set(rows.map(function (r) { return r.t; }))).sort(function (a, b) { return a - b; });
      var keys = Array.from(new Set(rows.map(function (r) { return r[key]; }))).sort();
      var index = new Map(times.map(function (t, i) { return [t, i]; }));
      var cols = keys.map(function () { return times.map(function () { return 0; }); });
      rows.forEach(function (r) { cols[keys.indexOf(r[key])][index.get(r.t)] = r.n; });
      return { data: [times].concat(cols), keys: keys };
    };

    var chart = function (id, rows, key, colorOf) {
      var box = document.getElementById(id);
      if (!box) return;
      if (!rows.length) { box.textContent = "No data in this range."; return; }
      var p = pivot(rows, key);
      var series = [{}].concat(p.keys.map(function (k, i) {
        var c = colorOf(k, i);
        return { label: k, stroke: c, width: 2, fill: c + "22", points: { show: p.data[0].length < 40 } };
      }));
      var width = Math.max(320, box.clientWidth || 560);
      new window.uPlot({ width: width, height: 240, series: series, axes: [{}, { label: "messages" }], scales: { x: { time: true } } }, p.data, box);
    };

    chart("chart-volume", data.volume || [], "channel", function (k, i) { return palette[i % palette.length]; });
    chart("chart-sentiment", data.sentiment || [], "sentiment", function (k, i) { return colors[k] || palette[i % palette.length]; });
  }
})();
