// A little JavaScript for the pages: the balance widget, the receipt that waits for the
// payment, the purchase page's running total, forms that submit once and ask first.
"use strict";

// Answers that asking again would only repeat: signed out (in another tab, or the session
// ended) or no such purchase. A tab left open asked every few seconds for as long as it stayed.
const FINAL_STATUSES = [401, 404];

function pollJSON(url, everyMs, onData, shouldStop) {
  let timer = null;
  async function tick() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (FINAL_STATUSES.includes(response.status)) {
        return;
      }
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

// A moment as the server writes it ("j M Y, H:i" UTC: 2 Apr 2026, 09:00 UTC): a plan's
// period and a lot end at that minute.
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function timeElement(iso) {
  const date = new Date(iso);
  const pad = (number) => String(number).padStart(2, "0");
  const when = document.createElement("time");
  when.dateTime = iso;
  when.textContent = `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}, `
    + `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
  return when;
}

// The home page's Balance, Available now and what expires next, drawn with the page, follow
// the header's poll: after a payment or a use the header said one balance and the figure
// beside it another. The words are the template's (pages/home.html).
function drawHomeFigures(homeBalance, data) {
  const short = Math.max(data.held - data.balance, 0);
  homeBalance.textContent = String(data.balance);
  document.getElementById("home-available").textContent = String(data.available);
  let unit = "tokens";
  if (short) {
    unit = `${data.held} held for work in progress, ${short} more than you have: it is charged only what is left`;
  } else if (data.held) {
    unit = `${data.held} held for work in progress`;
  }
  document.getElementById("home-available-unit").textContent = unit;
  // The notice under them: it said the lot the page was drawn with after it was used up, and
  // nothing of a sooner one granted since.
  const notice = document.getElementById("expiring-soon");
  notice.textContent = "";
  notice.hidden = !data.expiring_next;
  if (data.expiring_next) {
    notice.append(`${data.expiring_next.amount} tokens expire on `,
      timeElement(data.expiring_next.expires_at), ": they are used first.");
  }
}

function startBalanceWidget() {
  const balance = document.getElementById("balance");
  if (!balance) {
    return;
  }
  const expiring = document.getElementById("expiring");
  const homeBalance = document.getElementById("home-balance");
  // The widget is a live region: each write is read out, so only a change is written (a poll
  // that wrote the same balance anew had a screen reader say it every ten seconds).
  pollJSON(balance.dataset.url, 10000, (data) => {
    if (balance.textContent !== String(data.balance)) {
      balance.textContent = String(data.balance);
    }
    if (homeBalance) {
      drawHomeFigures(homeBalance, data);
    }
    if (expiring) {
      const next = document.createElement("span");
      if (data.expiring_next) {
        // As the server wrote it: the browser's locale wrote "Dec 12, 2026" for "12 Dec 2026".
        next.append(`; ${data.expiring_next.amount} expire `,
          timeElement(data.expiring_next.expires_at));
      }
      if (expiring.textContent !== next.textContent) {
        expiring.replaceChildren(...next.childNodes);
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
    if (data.status === "cancelled") {
      // Settled without a payment: nothing was credited, so say what happened instead.
      document.getElementById("receipt-heading").textContent = "This purchase was cancelled";
      state.append(document.getElementById("receipt-cancelled").content.cloneNode(true));
      return;
    }
    if (data.status === "refunded") {
      // Paid and refunded between two polls: the tokens were taken back.
      document.getElementById("receipt-heading").textContent = "This purchase was refunded";
      state.append(document.getElementById("receipt-refunded").content.cloneNode(true));
      return;
    }
    const newBalance = document.createElement("strong");
    newBalance.id = "new-balance";
    newBalance.textContent = String(data.balance);
    if (data.tokens_credited) {
      const credited = document.createElement("strong");
      credited.id = "tokens-credited";
      credited.textContent = String(data.tokens_credited);
      state.append("Payment received: ", credited, " tokens were added.");
    } else {
      // An add-on bought alone adds no tokens: "0 tokens were added" read as a lost payment.
      state.append("Payment received.");
    }
    state.append(" Your balance is ", newBalance, " tokens.");
    if (data.plan_starts_at) {
      // A plan paid again early: its period follows the one running now.
      state.append(` Your ${data.plan_name} plan's new period starts on `,
        timeElement(data.plan_starts_at), ", when the one running now ends.");
    }
    if (balance) {
      balance.textContent = String(data.balance);
    }
  }, (data) => data.settled);
}

// Amounts are whole minor units (cents) from the server, so the sum is exact. `symbol` is
// the prefix the server writes (money.symbol_prefix): "CHF " keeps its space.
function formatMinor(minor, places, symbol) {
  if (!places) {
    return `${symbol}${minor}`;
  }
  const digits = String(minor).padStart(places + 1, "0");
  return `${symbol}${digits.slice(0, -places)}.${digits.slice(-places)}`;
}

function startPurchaseTotal() {
  const form = document.querySelector("form[data-purchase]");
  if (!form) {
    return;
  }
  const total = document.getElementById("total");
  const items = document.getElementById("total-items");
  const places = Number(form.dataset.places);
  const subscribed = form.dataset.subscribed === "true";
  const noPlanHint = document.getElementById("add-ons-no-plan");
  const withPlanHint = document.getElementById("add-ons-with-plan");
  function update() {
    const planChosen = form.querySelector("input[name=plan][data-minor]:checked") !== null;
    if (noPlanHint && withPlanHint) {
      noPlanHint.hidden = planChosen;
      withPlanHint.hidden = !planChosen;
    }
    for (const addOn of form.querySelectorAll("input[name=add_ons]")) {
      addOn.disabled = !subscribed && !planChosen;
      if (addOn.disabled) {
        addOn.checked = false;
      }
    }
    let minor = 0;
    let count = 0;
    for (const input of form.querySelectorAll("input[data-minor]:checked")) {
      minor += Number(input.dataset.minor);
      count += 1;
    }
    total.textContent = formatMinor(minor, places, form.dataset.symbol);
    items.textContent = count ? `for ${count} item${count > 1 ? "s" : ""}` : "Nothing chosen yet";
  }
  form.addEventListener("change", update);
  window.addEventListener("pageshow", update);
  update();
}

function confirmFirst() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    });
  }
}

// The purchase page is no-store, so Back draws it anew with a new `submission`, and the
// browser puts back the ticks but not a hidden field's value: Buy from it was a second
// checkout of the same cart. The page's first submission is kept in its history entry and
// put back when the entry is drawn again (Back, Forward, reload), so Buy from it is the same
// checkout: its invoice, or once paid its receipt. A page reached anew is a new entry.
function keepSubmission() {
  const field = document.querySelector("form[data-purchase] input[name=submission]");
  if (!field) {
    return;
  }
  const state = window.history.state || {};
  if (state.submission) {
    field.value = state.submission;
  } else {
    window.history.replaceState({ ...state, submission: field.value }, "");
  }
}

function submitOnce() {
  for (const form of document.querySelectorAll("form[data-once]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]:not([disabled])")) {
        button.dataset.submitting = "true";
        window.setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startBalanceWidget();
  startReceipt();
  startPurchaseTotal();
  keepSubmission();
  confirmFirst();
  submitOnce();
});
// Coming back with the back button shows the page from the cache: enable the buttons that
// submitting disabled (not those the page itself disables).
window.addEventListener("pageshow", () => {
  for (const button of document.querySelectorAll("button[data-submitting]")) {
    delete button.dataset.submitting;
    button.disabled = false;
  }
});
