/* Espace Pro's lead inbox, live: the exclusive countdowns tick, and the server's event stream
 * (GET /pro/leads/stream, fed by the database's notifications) adds a new lead's card, updates a
 * card whose offer changed, and marks a card sold or withdrawn meanwhile. On a later page (a
 * cursor), a new lead is not placed (it belongs on top of the first page): the page counts the
 * leads offered since it was rendered and links to the first page. The cards come rendered by
 * the server (the page's own template): this file only places them. Without it the page works
 * the same, reloaded by hand. Plain ES2020, no library. */
(() => {
"use strict";

function countdown(until) {
  const minutes = Math.max(0, Math.floor((until - Date.now()) / 60000));
  if (minutes >= 60) return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
  return minutes ? `${minutes} min` : "< 1 min";
}

function tick() {
  for (const time of document.querySelectorAll("time.countdown")) {
    time.textContent = countdown(Date.parse(time.getAttribute("datetime")));
  }
}

function cardOf(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function say(text) {
  const status = document.getElementById("live-status");
  if (status) status.textContent = text;
}

function offeredSince(card, list) {
  // A card this later page does not show: new only if offered after the page was rendered (a
  // change to a lead of another page is not news).
  return Date.parse(card.dataset.offered) > Date.parse(list.dataset.since);
}

function tellNews(list, news) {
  // "3 new leads on offer — see the first page", in the page's polite live region.
  const region = document.getElementById("live-news");
  if (!region) return;
  const words = (news.size === 1 ? region.dataset.one : region.dataset.many)
    .replace("{n}", String(news.size));
  const line = document.createElement("p");
  line.className = "notice";
  const link = document.createElement("a");
  link.href = region.dataset.href;
  link.textContent = region.dataset.link;
  line.append(`${words} — `, link);
  region.replaceChildren(line);
}

async function reloadList(list) {
  // Changes may have been missed (the stream was cut): the list as the server has it now.
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  const offers = fresh.getElementById("offers");
  if (offers) list.replaceChildren(...offers.children);
  const empty = document.getElementById("empty");
  if (empty && list.children.length) empty.remove();
}

function listen(list) {
  const stream = new EventSource(list.dataset.stream);
  const later = list.dataset.later === "1";
  const news = new Set();  // on a later page: the leads offered since it was rendered
  let opened = false;
  const stop = (message) => {
    stream.close();
    list.dataset.live = "off";
    const notice = document.getElementById("live-stopped");
    if (notice) {
      notice.textContent = message;
      notice.hidden = false;
    }
  };
  stream.addEventListener("ready", () => {
    if (opened) reloadList(list);
    opened = true;
    list.dataset.live = "on";
  });
  stream.addEventListener("offer", (event) => {
    const card = cardOf(event.data);
    if (!card) return;
    const known = document.getElementById(card.id);
    if (known) {
      card.classList.remove("fresh");
      known.replaceWith(card);
    } else if (later) {
      if (!offeredSince(card, list) || news.has(card.dataset.lead)) return;
      news.add(card.dataset.lead);
      tellNews(list, news);
    } else {
      list.prepend(card);
      document.getElementById("empty")?.remove();
      say(`${list.dataset.new} ${card.querySelector("h2")?.textContent ?? ""}`);
    }
    tick();
  });
  stream.addEventListener("gone", (event) => {
    const card = document.getElementById(`offer-${event.data}`);
    if (!card || card.classList.contains("gone")) return;
    card.classList.add("gone");
    const status = card.querySelector(".status");
    if (status) status.textContent = list.dataset.gone;
    say(`${card.querySelector("h2")?.textContent ?? ""}: ${list.dataset.gone}`);
  });
  stream.addEventListener("reload", () => reloadList(list));
  stream.addEventListener("signed-out", () => stop(list.dataset.stopped));
  stream.addEventListener("too-many", () => stop(list.dataset.tooMany));
  stream.addEventListener("error", () => {
    if (stream.readyState === EventSource.CLOSED) stop(list.dataset.stopped);
    else list.dataset.live = "reconnecting";
  });
}

function start() {
  tick();
  setInterval(tick, 20000);
  const list = document.getElementById("offers");
  if (list && list.dataset.stream && window.EventSource) listen(list);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
