// The billing overview's chart: revenue (bars) and tokens sold (line) per day. It keeps its
// box's height (18rem) at any width, and shows fewer date labels on a phone.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("revenue-chart");
  if (!canvas) {
    return;
  }
  const data = JSON.parse(document.getElementById("overview-data").textContent);
  const narrow = window.matchMedia("(max-width: 40rem)").matches;
  new window.Chart(canvas, {
    data: {
      labels: data.days,
      datasets: [
        { type: "bar", label: `Revenue (${data.currency})`, data: data.revenue.map(Number), yAxisID: "revenue", backgroundColor: "#2456d6" },
        { type: "line", label: "Tokens sold", data: data.tokens, yAxisID: "tokens", borderColor: "#137a3a", backgroundColor: "#137a3a" },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { ticks: { maxTicksLimit: narrow ? 5 : 10, maxRotation: 0 } },
        revenue: {
          type: "linear", position: "left", beginAtZero: true,
          title: { display: !narrow, text: `Revenue (${data.currency})` },
          ticks: { maxTicksLimit: 6 },
        },
        tokens: {
          type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
          title: { display: !narrow, text: "Tokens sold" },
          ticks: { maxTicksLimit: 6, precision: 0 },
        },
      },
    },
  });
});
