// lakewatch report: draws the figures embedded in #report-data with Chart.js (inlined above this script).
// Each drawn canvas is marked data-drawn="true" once it holds pixels; <body data-ready> says the page is done.
(function () {
  "use strict";
  const REPORT = JSON.parse(document.getElementById("report-data").textContent);
  const charts = {};
  const fmt = {
    currencyGBP: (v) => "£" + v.toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    currencyUSD: (v) => "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    h: (v) => v.toLocaleString("en-GB", { maximumFractionDigits: 1 }) + " h",
    decgbytes: (v) => v.toLocaleString("en-GB", { maximumFractionDigits: 2 }) + " GB",
    percentunit: (v) => (100 * v).toLocaleString("en-GB", { maximumFractionDigits: 1 }) + " %",
  };
  function format(value, unit, decimals) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (fmt[unit]) return fmt[unit](value);
    return value.toLocaleString("en-GB", { maximumFractionDigits: decimals ?? 2 });
  }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function datasets(figure) {
    return figure.series.map((s) => ({
      label: s.name,
      data: s.values,
      borderColor: s.color,
      backgroundColor: s.points ? s.color : s.color + (figure.kind === "barchart" ? "cc" : s.band_edge ? "66" : "33"),
      borderDash: s.dashed ? [6, 6] : [],
      showLine: !s.points,
      pointStyle: s.points ? "triangle" : "circle",
      pointRadius: s.points ? 8 : figure.kind === "timeseries" && figure.labels.length > 60 ? 0 : 2,
      fill: s.fill_to !== null && s.fill_to !== undefined ? s.fill_to : figure.stacked && figure.kind === "timeseries" ? "stack" : false,
      spanGaps: !!figure.span_gaps,
      borderWidth: s.band_edge ? 0 : figure.kind === "barchart" ? 1 : 2,
      stack: figure.stacked ? "all" : s.name,
      order: s.points ? 0 : 1,
    }));
  }

  function chartConfig(figure) {
    const tooltip = { callbacks: { label: (ctx) => ctx.dataset.label + ": " + format(ctx.raw, figure.unit) } };
    const valueAxis = { stacked: figure.stacked, beginAtZero: true, ticks: { callback: (v) => format(v, figure.unit) } };
    const common = { responsive: true, maintainAspectRatio: false, animation: false };
    if (figure.kind === "matrix") {
      const max = Math.max(...figure.cells.map((c) => c.v), 1);
      const days = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
      return {
        type: "matrix",
        data: {
          datasets: [{
            label: "orders",
            data: figure.cells,
            backgroundColor: (ctx) => {
              const v = (ctx.raw && ctx.raw.v) || 0;
              return "rgba(224, 47, 68, " + (0.08 + 0.92 * v / max).toFixed(3) + ")";
            },
            width: ({ chart }) => (chart.chartArea || {}).width / 24 - 2,
            height: ({ chart }) => (chart.chartArea || {}).height / 7 - 2,
          }],
        },
        options: {
          ...common,
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { title: () => "", label: (ctx) => days[ctx.raw.y] + " " + ctx.raw.x + ":00 – " + ctx.raw.v + " orders" } },
          },
          scales: {
            x: { type: "linear", min: -0.5, max: 23.5, offset: false, ticks: { stepSize: 1, callback: (v) => (Number.isInteger(v) ? v : "") }, grid: { display: false }, title: { display: true, text: "hour (UTC)" } },
            y: { type: "linear", min: 0.5, max: 7.5, reverse: true, offset: false, ticks: { stepSize: 1, callback: (v) => (Number.isInteger(v) ? days[v] : "") }, grid: { display: false } },
          },
        },
      };
    }
    const horizontal = figure.kind === "barchart" && figure.horizontal;
    const shorten = function (value) {
      const label = String(this.getLabelForValue(value));
      return label.length > 34 ? label.slice(0, 33) + "…" : label;
    };
    const categoryAxis = { stacked: figure.stacked, ticks: { autoSkip: !horizontal, maxRotation: 0, callback: shorten } };
    return {
      type: figure.kind === "barchart" ? "bar" : "line",
      data: { labels: figure.labels, datasets: datasets(figure) },
      options: {
        ...common,
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: { tooltip, legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
      },
    };
  }

  function drawStat(body, figure) {
    const tiles = el("div", { class: "stats" });
    figure.stats.forEach((s) => {
      const tile = el("div", { class: "stat" });
      tile.append(el("div", { class: "stat-value" }, format(s.value, s.unit || figure.unit, figure.decimals)), el("div", { class: "stat-name" }, s.name));
      tiles.append(tile);
    });
    body.append(tiles);
  }

  function drawTable(body, figure, dashboard) {
    const wrap = el("div", { class: "table-wrap" });
    const table = el("table");
    const head = el("tr");
    figure.columns.forEach((c) => head.append(el("th", {}, c.replace(/_/g, " "))));
    table.append(head);
    figure.rows.forEach((row) => {
      const tr = el("tr");
      row.forEach((cell, i) => {
        const td = el("td", {}, format(cell, "none"));
        if (figure.link_columns.includes(figure.columns[i]) && REPORT.investigation) {
          const job = row[figure.columns.indexOf("job_name")];
          const preset = REPORT.investigation.presets.findIndex((p) => p.client === cell && p.job === job);
          if (preset >= 0) {
            td.textContent = "";
            const a = el("a", { href: "#batch_client_investigation" }, String(cell));
            a.addEventListener("click", () => { choosePreset(preset); });
            td.append(a);
          }
        }
        tr.append(td);
      });
      table.append(tr);
    });
    wrap.append(table);
    body.append(wrap);
  }

  function variantKey(dashboard) {
    return (dashboard.state || []).join("|");
  }

  function drawPanel(dashboard, panel) {
    const id = dashboard.name + "--" + panel.name;
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    const body = document.getElementById(id);
    body.textContent = "";
    const figure = panel.variants[variantKey(dashboard)];
    const title = document.getElementById(id + "--title");
    title.textContent = panel.title.replace("${unit:text}", REPORT.investigation ? REPORT.investigation.units[dashboard.state?.[1] ?? 0] || "" : "");
    if (!figure || figure.empty) { body.append(el("div", { class: "no-data" }, "No data")); return; }
    if (figure.kind === "stat") return drawStat(body, figure);
    if (figure.kind === "table") return drawTable(body, figure, dashboard);
    const canvas = el("canvas", { "data-chart": id });
    body.append(canvas);
    charts[id] = new Chart(canvas, chartConfig(figure));
  }

  function drawDashboard(dashboard) {
    dashboard.panels.forEach((panel) => drawPanel(dashboard, panel));
  }

  function choosePreset(index) {
    const dashboard = REPORT.dashboards.find((d) => d.name === "batch_client_investigation");
    dashboard.state[0] = String(index);
    document.getElementById("preset").value = String(index);
    drawDashboard(dashboard);
  }

  function hasPixels(canvas) {
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    if (!width || !height) return false;
    const data = ctx.getImageData(0, 0, width, height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
    return false;
  }

  // report.html?dashboard=<name> shows that dashboard alone (the README's screenshots are taken so).
  const only = new URLSearchParams(window.location.search).get("dashboard");
  if (only) {
    REPORT.dashboards = REPORT.dashboards.filter((d) => d.name === only);
    document.querySelectorAll("article.dashboard").forEach((a) => { if (a.id !== only) a.remove(); });
  }
  REPORT.dashboards.forEach((dashboard) => {
    const preset = document.getElementById("preset");
    if (dashboard.name === "batch_client_investigation" && preset) {
      dashboard.state = ["0", "0"];
      preset.addEventListener("change", () => choosePreset(Number(preset.value)));
      document.getElementById("unit").addEventListener("change", (event) => {
        dashboard.state[1] = event.target.value;
        drawDashboard(dashboard);
      });
    }
    drawDashboard(dashboard);
  });
  const canvases = Array.from(document.querySelectorAll("canvas[data-chart]"));
  canvases.forEach((canvas) => canvas.setAttribute("data-drawn", String(hasPixels(canvas))));
  document.body.setAttribute("data-charts", String(canvases.length));
  document.body.setAttribute("data-ready", "true");
})();
