/* Mandat estimation form: embed loader.
 *
 * <script src="https://mandat.example/embed/estimation.js" data-source="partner-slug" async></script>
 * Optional: data-lang="en". Inserts, right after its tag, an iframe on the form served by the same
 * origin as this script, and sizes it from the form's {type: "mandat:height"} messages.
 */
(() => {
  "use strict";
  const SELECTOR = 'script[src*="/embed/estimation.js"]';
  const SOURCE = /^[a-z0-9][a-z0-9._-]*$/;
  const TITLES = { fr: "Estimation gratuite de votre bien", en: "Free estimate of your property" };
  const MIN_HEIGHT = 200;
  const MAX_HEIGHT = 5000;

  function mount(script) {
    if (script.hasAttribute("data-mandat-mounted")) return;
    script.setAttribute("data-mandat-mounted", "");
    let origin;
    try {
      origin = new URL(script.src, location.href).origin;
    } catch (_) {
      return;
    }
    const lang = /^en\b/i.test(script.dataset.lang || "") ? "en" : "fr";
    const query = new URLSearchParams();
    const source = (script.dataset.source || "").trim().toLowerCase();
    if (source.length <= 64 && SOURCE.test(source)) query.set("source", source);
    query.set("lang", lang);

    const frame = document.createElement("iframe");
    frame.src = `${origin}/forms/estimation?${query}`;
    frame.title = TITLES[lang];
    frame.style.cssText =
      "display:block;width:100%;max-width:100%;height:600px;border:0;margin:0;padding:0;";

    window.addEventListener("message", (event) => {
      if (event.origin !== origin || event.source !== frame.contentWindow) return;
      const data = event.data;
      if (!data || typeof data !== "object") return;
      if (data.type === "mandat:height") {
        const height = Number(data.height);
        if (!Number.isFinite(height)) return;
        frame.style.height = `${Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, Math.ceil(height)))}px`;
      } else if (data.type === "mandat:scroll" && frame.getBoundingClientRect().top < 0) {
        // A new step starts at the top of the form: bring it back into view.
        frame.scrollIntoView({ block: "start" });
      }
    });

    // An iframe in <head> would never show: a tag placed there puts the form at the end of <body>.
    const place = () => {
      if (document.body && document.body.contains(script)) script.after(frame);
      else if (document.body) document.body.appendChild(frame);
      else document.addEventListener("DOMContentLoaded", place, { once: true });
    };
    place();
  }

  const current = document.currentScript;
  if (current && current.src) mount(current);
  else document.querySelectorAll(SELECTOR).forEach(mount);
})();
