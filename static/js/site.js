// A little JavaScript for the pages: the balance widget, the receipt that waits for the
// payment, and forms that submit once.
"use strict";

function pollJSON(url, everyMs, onData, shouldStop) {
  let timer = null;
  async function tick() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        onData(data);
        if (shouldStop && shouldStop(data)) {
          return;
        }
      }
    } catch (error) {
      // Offline for a moment: try again at the next tick.
    }
    timer = window.setTimeout(tick, everyMs);
  }
  timer = window.setTimeout(tick, everyMs);
  return () => window.clearTimeout(timer);
}

function startBalanceWidget() {
  const balance = document.getElementById("balance");
  if (!balance) {
    return;
  }
  const expiring = document.getElementById("expiring");
  pollJSON(balance.dataset.url, 10000, (data) => {
    balance.textContent = String(data.balance);
    if (expiring) {
      expiring.textContent = "";
      if (data.expiring_next) {
        const when = document.createElement("time");
        when.dateTime = data.expiring_next.expires_at;
        when.textContent = new Date(data.expiring_next.expires_at).toLocaleDateString(undefined, {
          day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
        });
        expiring.append(`; ${data.expiring_next.amount} expire `, when);
      }
    }
  });
}

function startReceipt() {
  const receipt = document.getElementById("receipt");
  if (!receipt || receipt.dataset.settled === "true") {
    return;
  }
  const state = document.getElementById("payment-state");
  const balance = document.getElementById("balance");
  pollJSON(receipt.dataset.statusUrl, 1500, (data) => {
    if (!data.settled) {
      return;
    }
    receipt.dataset.settled = "true";
    state.textContent = "";
    const credited = document.createElement("strong");
    credited.id = "tokens-credited";
    credited.textContent = String(data.tokens_credited);
    const newBalance = document.createElement("strong");
    newBalance.id = "new-balance";
    newBalance.textContent = String(data.balance);
    state.append("Payment received: ", credited, " tokens were added. Your balance is ", newBalance, " tokens.");
    if (balance) {
      balance.textContent = String(data.balance);
    }
  }, (data) => data.settled);
}

function submitOnce() {
  for (const form of document.querySelectorAll("form[data-once]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]")) {
        window.setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startBalanceWidget();
  startReceipt();
  submitOnce();
});
// Coming back with the back button shows the page from the cache: enable its buttons again.
window.addEventListener("pageshow", () => {
  for (const button of document.querySelectorAll("form[data-once] button[type=submit]")) {
    button.disabled = false;
  }
});
