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

  // The server sends the window (from, to, bucket) and series already aligned on it, empty buckets as zeros, so the
  // x scale is fixed to the chosen range instead of stretching around whatever data happens to exist.
  // The uPlot instances stay reachable on window.copilotCharts (tests read their scales).
  function drawCharts(island) {
    var data = JSON.parse(island.textContent || "{}");
    var tl = data.timeline;
    var charts = data.charts || {};
    var palette = ["#1f4fd1", "#d9822b", "#17703a", "#c62f2f", "#7a3fd1", "#0e8a8a", "#8a5a00"];
    var colors = { negative: "#c62f2f", frustrated: "#8e1b1b", angry: "#5c0f0f", neutral: "#8792a2", positive: "#17703a", unknown: "#c5ccd9" };
    window.copilotCharts = {};

    var chart = function (id, aligned, colorOf) {
      var box = document.getElementById(id);
      if (!box || !tl || !aligned) return;
      box.setAttribute("data-from", String(tl.from));
      box.setAttribute("data-to", String(tl.to));
      box.setAttribute("data-bucket", tl.bucket);
      var keys = aligned.keys.length ? aligned.keys : ["messages"];
      var values = aligned.keys.length ? aligned.values : [tl.times.map(function () { return 0; })];
      var series = [{}].concat(keys.map(function (k, i) {
        var c = colorOf(k, i);
        return { label: k, stroke: c, width: 2, fill: c + "22", points: { show: tl.times.length <= 40 } };
      }));
      var width = Math.max(320, box.clientWidth || 560);
      var u = new window.uPlot({
        width: width,
        height: 240,
        series: series,
        axes: [{}, { label: "messages per " + tl.bucket }],
        scales: { x: { time: true, range: function () { return [tl.from, tl.to]; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      }, [tl.times].concat(values), box);
      window.copilotCharts[id] = u;
      if (!aligned.keys.length) box.insertAdjacentHTML("beforeend", '<p class="muted">No messages in this range.</p>');
    };

    chart("chart-volume", charts.volume, function (k, i) { return palette[i % palette.length]; });
    chart("chart-sentiment", charts.sentiment, function (k, i) { return colors[k] || palette[i % palette.length]; });
  }
})();
