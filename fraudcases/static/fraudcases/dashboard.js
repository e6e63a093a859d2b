// Dashboard charts (ECharts, vendored) drawn from the JSON the page embeds; changing a filter
// loads /dashboard/data.json for the new filters, redraws every chart and puts the filters in
// the URL. No inline script (CSP): data comes from <script type="application/json">.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  var dataNode = document.getElementById("dashboard-data");
  if (!root || !dataNode || !window.echarts) return;

  var charts = JSON.parse(dataNode.textContent);
  var instances = {};
  var worldReady = false;
  var COLORS = ["#1f5fbf", "#d9730d", "#4a7a3a", "#b3261e", "#7b5ea7", "#b8860b"];
  var SLA_COLORS = { breached: "#b3261e", due_soon: "#d9730d", ok: "#4a7a3a", no_due: "#9aa3b0" };

  function column(chart, name) {
    var i = chart.columns.indexOf(name);
    return chart.rows.map(function (r) { return r[i]; });
  }
  function numbers(values) {
    return values.map(function (v) { return v === null || v === undefined ? null : Number(v); });
  }
  function percent(values) {
    return values.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; });
  }
  function base(extra) {
    var option = {
      color: COLORS,
      animation: false,
      grid: { left: 48, right: 48, top: 30, bottom: 30, containLabel: true },
      tooltip: { trigger: "axis" },
      legend: { top: 0, textStyle: { fontSize: 11 } }
    };
    Object.keys(extra).forEach(function (k) { option[k] = extra[k]; });
    return option;
  }
  function rateBars(chart, valueName, labelName) {
    var label = labelName || chart.columns[0];
    var rateName = chart.columns[chart.columns.length - 1];
    return base({
      legend: { show: false },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", inverse: true, data: column(chart, label).map(String) },
      series: [{
        name: rateName.replace(/_/g, " ") + " (%)", type: "bar",
        data: percent(column(chart, valueName || rateName)),
        label: { show: true, position: "right", formatter: "{c}%" }
      }]
    });
  }

  var BUILD = {
    volume: function (c) {
      return base({
        xAxis: { type: "category", data: column(c, "day") },
        yAxis: [{ type: "value", name: "transactions", minInterval: 1 },
                { type: "value", name: "flagged %", axisLabel: { formatter: "{value}%" } }],
        series: [
          { name: "transactions", type: "bar", data: column(c, "transactions") },
          { name: "flagged rate", type: "line", yAxisIndex: 1, data: percent(column(c, "flagged_rate")),
            connectNulls: false, color: "#b3261e" }
        ]
      });
    },
    bar: function (c) {
      return base({
        legend: { show: false },
        xAxis: { type: "category", data: column(c, c.columns[0]).map(String) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ name: c.columns[1], type: "bar", data: numbers(column(c, c.columns[1])) }]
      });
    },
    flow: function (c) {
      return base({
        xAxis: { type: "category", data: column(c, "day") },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "opened", type: "bar", data: column(c, "opened") },
                 { name: "closed", type: "bar", data: column(c, "closed") }]
      });
    },
    stacked: function (c) {
      var states = c.columns.slice(1);
      return base({
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: column(c, "priority") },
        series: states.map(function (s) {
          return { name: s.replace("_", " "), type: "bar", stack: "sla", color: SLA_COLORS[s],
                   data: column(c, s) };
        })
      });
    },
    grouped: function (c) {
      return base({
        xAxis: { type: "category", data: column(c, "priority") },
        yAxis: { type: "value", name: "hours" },
        series: [
          { name: "to first action", type: "bar", data: numbers(column(c, "median_hours_to_first_action")) },
          { name: "to close", type: "bar", data: numbers(column(c, "median_hours_to_close")) }
        ]
      });
    },
    money: function (c) {
      return base({
        xAxis: { type: "category", data: column(c, "currency") },
        yAxis: { type: "value" },
        series: [{ name: "at risk (open)", type: "bar", data: numbers(column(c, "at_risk_open")) },
                 { name: "confirmed fraud", type: "bar", data: numbers(column(c, "confirmed_fraud")) }]
      });
    },
    rate: function (c) { return rateBars(c); },
    heatmap: function (c) {
      var days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
      var hours = [];
      for (var h = 0; h < 24; h++) hours.push(String(h));
      var max = 1;
      var data = c.rows.map(function (r) {
        max = Math.max(max, r[2]);
        return [r[1], days.indexOf(r[0]), r[2]];
      });
      return {
        animation: false,
        tooltip: { position: "top" },
        grid: { left: 50, right: 20, top: 10, bottom: 90 },
        xAxis: { type: "category", data: hours, name: "hour", splitArea: { show: true } },
        yAxis: { type: "category", data: days, inverse: true, splitArea: { show: true } },
        visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center",
                     bottom: 0, inRange: { color: ["#f3f6fb", "#f5a623", "#b3261e"] } },
        series: [{ name: "flagged", type: "heatmap", data: data }]
      };
    },
    map: function (c) {
      var max = 1;
      c.rows.forEach(function (r) { max = Math.max(max, r[2]); });
      return {
        animation: false,
        tooltip: { trigger: "item", formatter: function (p) {
          return p.value[1] + "°, " + p.value[0] + "°: " + p.value[2] + " flagged";
        } },
        geo: { map: "world", roam: true, itemStyle: { areaColor: "#eef1f5", borderColor: "#aab2bf" },
               emphasis: { disabled: true } },
        series: [{
          name: "flagged", type: "scatter", coordinateSystem: "geo",
          data: c.rows.map(function (r) { return [r[1], r[0], r[2]]; }),
          symbolSize: function (v) { return 4 + 14 * Math.sqrt(v[2] / max); },
          itemStyle: { color: "rgba(179,38,30,0.65)" }
        }]
      };
    }
  };

  function renderTable(name, chart) {
    var table = document.getElementById("data-" + name);
    if (!table) return;
    var head = "<thead><tr>" + chart.columns.map(function (c) {
      return "<th>" + escapeHtml(c) + "</th>";
    }).join("") + "</tr></thead>";
    var body = chart.rows.map(function (r) {
      return "<tr>" + r.map(function (v) {
        return "<td>" + escapeHtml(v === null ? "" : String(v)) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    table.innerHTML = head + "<tbody>" + body + "</tbody>";
  }

  function renderCaseTable(name, chart) {
    var table = document.getElementById("table-" + name);
    if (!table) return;
    var tbody = table.querySelector("tbody");
    if (!chart.rows.length) {
      tbody.innerHTML = '<tr><td colspan="7" class="empty">No open case.</td></tr>';
      return;
    }
    tbody.innerHTML = chart.rows.map(function (r) {
      var id = encodeURIComponent(r[0]);
      return "<tr><td><a href=\"/cases/" + id + "/\">#" + escapeHtml(String(r[0])) + "</a></td>" +
        "<td>" + escapeHtml(r[1]) + "</td><td><span class=\"badge badge-" + escapeHtml(r[2]) + "\">" +
        escapeHtml(r[2]) + "</span></td><td class=\"r\">" + escapeHtml(String(r[3])) + "</td>" +
        "<td class=\"r\">" + escapeHtml(r[4]) + "</td><td>" + escapeHtml(r[5] || "—") + "</td>" +
        "<td><a class=\"report-link\" href=\"/cases/" + id + "/report.pdf\">PDF</a></td></tr>";
    }).join("");
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function draw(name) {
    var chart = charts[name];
    var el = document.getElementById("chart-" + name);
    if (chart.kind === "table") { renderCaseTable(name, chart); return; }
    renderTable(name, chart);
    if (!el || !BUILD[chart.kind]) return;
    if (chart.kind === "map" && !worldReady) return;  // drawn once the outlines are loaded
    var inst = instances[name] || (instances[name] = echarts.init(el, null, { renderer: "canvas" }));
    var option = BUILD[chart.kind](chart);
    if (!chart.rows.length) {
      option.title = { text: "No data for these filters", left: "center", top: "middle",
                       textStyle: { color: "#5d6675", fontSize: 13, fontWeight: "normal" } };
    }
    inst.setOption(option, true);
    el.setAttribute("data-rows", String(chart.rows.length));
  }

  function drawAll() { Object.keys(charts).forEach(draw); }

  function updateTiles(tiles) {
    document.querySelectorAll("[data-tile]").forEach(function (el) {
      var v = tiles[el.getAttribute("data-tile")];
      if (v !== undefined) el.textContent = v;
    });
  }

  function updateLinks(query) {
    document.querySelectorAll("a[data-csv]").forEach(function (a) {
      a.href = "/dashboard/" + encodeURIComponent(a.getAttribute("data-csv")) + ".csv?" + query;
    });
  }

  var form = document.getElementById("dashboard-filters");
  var errors = document.getElementById("filter-errors");
  var pending = null;

  function formQuery() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value) params.append(key, value); });
    return params.toString();
  }

  function reload() {
    var query = formQuery();
    if (pending) pending.abort();
    pending = new AbortController();
    root.classList.add("dash-loading");
    fetch(root.getAttribute("data-data-url") + "?" + query, {
      credentials: "same-origin", headers: { Accept: "application/json" }, signal: pending.signal
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      root.classList.remove("dash-loading");
      if (!result.ok) {
        var msgs = [];
        Object.keys(result.body.errors || {}).forEach(function (field) {
          result.body.errors[field].forEach(function (e) { msgs.push(field + ": " + e); });
        });
        errors.textContent = msgs.join(" ");
        return;
      }
      errors.textContent = "";
      charts = result.body.charts;
      drawAll();
      updateTiles(result.body.tiles);
      updateLinks(result.body.query);
      history.replaceState(null, "", "?" + result.body.query);
      root.setAttribute("data-query", result.body.query);
    }).catch(function (err) {
      if (err.name !== "AbortError") {
        root.classList.remove("dash-loading");
        errors.textContent = "Could not load the charts (" + err.message + ").";
      }
    });
  }

  if (form) {
    form.addEventListener("change", reload);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); reload(); });
  }

  fetch(root.getAttribute("data-geo-url"), { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (geo) { echarts.registerMap("world", geo); worldReady = true; draw("map"); })
    .catch(function () { /* no outlines: the map panel keeps its data table */ });

  drawAll();
  window.addEventListener("resize", function () {
    Object.keys(instances).forEach(function (k) { instances[k].resize(); });
  });
})();
