// Entity graph of a case (ECharts graph series, vendored): fetched from the case API
// (GET /api/v1/cases/<id>/graph, the same JSON the API serves), force layout, coloured by risk
// (accounts) and status (cases); clicking a case opens it. No inline script (CSP).
(function () {
  "use strict";

  var root = document.getElementById("case-graph");
  var status = document.getElementById("case-graph-status");
  if (!root || !window.echarts || !window.fetch) return;

  var STATUS_COLORS = {
    new: "#1f5fbf",
    in_review: "#d9730d",
    escalated: "#b3261e",
    pending_approval: "#7b5ea7",
    closed: "#9aa3b0"
  };
  var TYPE_COLORS = { device: "#4a7a3a", ip: "#2d7d8c", counterparty: "#b8860b", merchant: "#6b6b6b" };
  var SYMBOLS = { account: "circle", "case": "rect", device: "triangle", ip: "diamond",
    counterparty: "roundRect", merchant: "pin" };
  var CATEGORIES = ["case", "account", "device", "ip", "counterparty", "merchant"];

  function riskColor(risk) {
    if (risk === null || risk === undefined) return "#9aa3b0";
    if (risk >= 90) return "#b3261e";
    if (risk >= 70) return "#d9730d";
    if (risk >= 40) return "#b8860b";
    return "#4a7a3a";
  }

  function color(node) {
    if (node.type === "case") return STATUS_COLORS[node.status] || "#9aa3b0";
    if (node.type === "account") return riskColor(node.risk);
    return TYPE_COLORS[node.type] || "#6b6b6b";
  }

  function tooltip(node) {
    var parts = [node.type + ": " + node.label];
    if (node.status) parts.push("status: " + node.status.replace("_", " "));
    if (node.risk !== null && node.risk !== undefined) parts.push("risk: " + node.risk);
    return parts.join("<br>");
  }

  function draw(graph) {
    var chart = window.echarts.init(root, null, { renderer: "canvas" });
    var data = graph.nodes.map(function (n) {
      return {
        id: n.id,
        name: n.label,
        value: n.risk,
        category: CATEGORIES.indexOf(n.type),
        symbol: SYMBOLS[n.type] || "circle",
        symbolSize: n.current ? 26 : n.type === "case" || n.type === "account" ? 18 : 12,
        itemStyle: { color: color(n), borderColor: n.current ? "#000" : "#fff", borderWidth: n.current ? 2 : 1 },
        label: { show: n.type !== "merchant" || n.depth < 2 },
        tooltipText: tooltip(n),
        url: n.url || null
      };
    });
    chart.setOption({
      animation: false,
      tooltip: { formatter: function (p) { return p.data && p.data.tooltipText ? p.data.tooltipText : ""; } },
      legend: { data: CATEGORIES, bottom: 0 },
      series: [{
        type: "graph",
        layout: "force",
        roam: true,
        draggable: true,
        force: { repulsion: 140, edgeLength: 60 },
        categories: CATEGORIES.map(function (c) { return { name: c }; }),
        label: { position: "right", fontSize: 10 },
        lineStyle: { color: "#9aa3b0", opacity: 0.7 },
        data: data,
        links: graph.edges.map(function (e) { return { source: e.source, target: e.target }; })
      }]
    });
    chart.on("click", function (p) {
      if (p.dataType === "node" && p.data && p.data.url) window.location.href = p.data.url;
    });
    window.addEventListener("resize", function () { chart.resize(); });
    root.setAttribute("data-nodes", String(graph.nodes.length));
  }

  fetch(root.getAttribute("data-graph-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then(function (graph) {
      draw(graph);
      var accounts = graph.nodes.filter(function (n) { return n.type === "account"; }).length;
      var cases = graph.nodes.filter(function (n) { return n.type === "case"; }).length;
      status.textContent = graph.nodes.length + " nodes (" + accounts + " accounts, " + cases + " cases)" +
        (graph.truncated ? " — more… (the graph was cut at its size limit)" : "");
    })
    .catch(function (err) {
      status.textContent = "The graph could not be loaded (" + err.message + ").";
    });
})();
