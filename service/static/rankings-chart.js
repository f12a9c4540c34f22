// The zone rankings' bar chart (Apache ECharts, served by the app). Reads the figures the page
// embeds as JSON; draws each ranked branch's total, best on top, with its indicator scores in
// the tooltip and as switchable series.
(function () {
  "use strict";
  var holder = document.getElementById("ranking-chart");
  var source = document.getElementById("ranking-chart-data");
  if (!holder || !source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var names = data.branches.slice().reverse();  // a horizontal bar chart draws bottom-up
  var chart = echarts.init(holder, null, { renderer: "canvas" });
  // marked once drawn (animation over): what the browser tests and screenshots wait for
  chart.on("finished", function () { holder.setAttribute("data-rendered", "true"); });
  chart.setOption({
    aria: { enabled: true },
    color: ["#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a"],
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0, type: "scroll", selected: data.series.reduce(function (acc, s, i) {
      acc[s.name] = i === 0; return acc; }, {}) },
    grid: { left: 8, right: 24, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: "value", min: 0, max: 100 },
    yAxis: { type: "category", data: names, axisLabel: { width: 140, overflow: "truncate" } },
    series: data.series.map(function (s) {
      return { name: s.name, type: "bar", data: s.values.slice().reverse(),
               label: { show: true, position: "right" } };
    })
  });
  window.addEventListener("resize", function () { chart.resize(); });
}());
