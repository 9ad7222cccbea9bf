// The billing overview's chart: revenue (bars) and tokens sold (line) per day.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("overview-data").textContent);
  const canvas = document.getElementById("revenue-chart");
  new window.Chart(canvas, {
    data: {
      labels: data.days,
      datasets: [
        { type: "bar", label: "Revenue", data: data.revenue.map(Number), yAxisID: "revenue", backgroundColor: "#2456d6" },
        { type: "line", label: "Tokens sold", data: data.tokens, yAxisID: "tokens", borderColor: "#137a3a" },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      scales: {
        revenue: { type: "linear", position: "left", beginAtZero: true },
        tokens: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
      },
    },
  });
});
