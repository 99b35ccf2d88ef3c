/* Mandat estimation form. Step 1: the property → an estimate and the agencies near it. Step 2:
 * contact, project and consent per agency → a lead. Then a confirmation. Plain ES2020. */
(() => {
"use strict";

// Every text, [French, English]. A label inside .field takes the text keyed by its `for`; other
// elements name theirs in data-t.
const TEXTS = {
  title: ["Estimation gratuite de votre bien", "Free estimate of your property"],
  lang_group: ["Langue", "Language"],
  progress1: ["Étape 1 sur 2", "Step 1 of 2"],
  progress2: ["Étape 2 sur 2", "Step 2 of 2"],
  h_property: ["Votre bien", "Your property"],
  intro_property: ["Décrivez votre bien pour obtenir une première estimation. Aucune donnée personnelle n'est demandée à cette étape.", "Describe your property to get a first estimate. No personal data is asked at this step."],
  required_note: ["Tous les champs sont obligatoires, sauf mention « facultatif ».", "All fields are required unless marked “optional”."],
  type: ["Type de bien", "Property type"],
  t_appartement: ["Appartement", "Flat"],
  t_maison: ["Maison", "House"],
  t_terrain: ["Terrain", "Land"],
  t_autre: ["Autre", "Other"],
  surface_m2: ["Surface habitable (m²)", "Living area (m²)"],
  surface_land: ["Surface du terrain (m²)", "Land area (m²)"],
  rooms: ["Nombre de pièces", "Number of rooms"],
  rooms_hint: ["Hors cuisine et salle de bains", "Excluding kitchen and bathrooms"],
  postal_code: ["Code postal", "Postcode"],
  city: ["Commune", "Town"],
  city_wait: ["Indiquez le code postal", "Enter the postcode first"],
  city_loading: ["Recherche des communes…", "Looking up towns…"],
  city_choose: ["Choisissez votre commune", "Choose your town"],
  city_none: ["Aucune commune", "No town"],
  city_many: ["{n} communes ont ce code postal : choisissez la vôtre.", "{n} towns share this postcode: choose yours."],
  street: ["Adresse (facultatif)", "Street address (optional)"],
  street_options: ["Rues proposées", "Suggested streets"],
  streets_1: ["1 rue proposée : flèches haut et bas pour la choisir.", "1 street suggested: use the up and down arrows to choose it."],
  streets_n: ["{n} rues proposées : flèches haut et bas pour choisir.", "{n} streets suggested: use the up and down arrows to choose."],
  street_demo: ["adresse de démonstration", "demonstration address"],
  from_address: ["Distances mesurées depuis votre adresse.", "Distances measured from your address."],
  from_street: ["Distances mesurées depuis le milieu de votre rue (numéro non trouvé).", "Distances measured from the middle of your street (number not found)."],
  from_coordinates: ["Distances mesurées depuis le point indiqué.", "Distances measured from the point given."],
  from_town_hall: ["Distances mesurées depuis la mairie de votre commune.", "Distances measured from your town hall."],
  details: ["Précisions sur le bien (facultatif)", "More about the property (optional)"],
  details_hint: ["Elles aident les agences à préparer leur visite.", "This helps agencies prepare their visit."],
  bedrooms: ["Chambres", "Bedrooms"],
  floor: ["Étage", "Floor"],
  floor_hint: ["0 pour le rez-de-chaussée", "0 for the ground floor"],
  lift: ["Ascenseur", "Lift"],
  parking: ["Parking ou garage", "Parking or garage"],
  unset: ["Non précisé", "Not specified"],
  yes: ["Oui", "Yes"],
  no: ["Non", "No"],
  condition: ["État général", "Condition"],
  c_to_renovate: ["À rénover", "Needs renovation"],
  c_fair: ["Correct", "Fair"],
  c_good: ["Bon état", "Good"],
  c_excellent: ["Excellent état", "Excellent"],
  year: ["Année de construction", "Year built"],
  land_m2: ["Surface du terrain (m²)", "Land area (m²)"],
  outdoor_space: ["Espace extérieur", "Outdoor space"],
  o_none: ["Aucun", "None"],
  o_balcony: ["Balcon", "Balcony"],
  o_terrace: ["Terrasse", "Terrace"],
  o_garden: ["Jardin", "Garden"],
  estimate_submit: ["Estimer mon bien", "Estimate my property"],
  estimate_busy: ["Estimation en cours…", "Estimating…"],
  h_contact: ["Votre estimation", "Your estimate"],
  estimated_at: ["Votre bien est estimé", "Your property is worth"],
  range: ["entre {low} et {high}", "between {low} and {high}"],
  mid: ["Valeur centrale : {mid}", "Central value: {mid}"],
  per_m2: ["{v} €/m²", "€{v}/m²"],
  comparables_1: ["1 vente comparable", "1 comparable sale"],
  comparables_n: ["{n} ventes comparables", "{n} comparable sales"],
  confidence: ["fiabilité {c}", "{c} confidence"],
  conf_high: ["élevée", "high"],
  conf_medium: ["moyenne", "medium"],
  conf_low: ["faible", "low"],
  conf_none: ["non évaluée", "unrated"],
  conf_why: ["Cette fiabilité tient au nombre de ventes comparables, à l'écart de leurs prix au m² (±{p} % autour de la médiane), à leur distance ({d} en médiane) et à leur ancienneté ({m} mois en médiane).", "This confidence comes from the number of comparable sales, the spread of their prices per m² (±{p} % around the median), their distance ({d} median) and their age ({m} months median)."],
  conf_why_synthetic: ["Elle n'est jamais élevée sur des ventes fictives.", "It is never high on fictitious sales."],
  adjustments: ["Ajustements pour votre bien, inclus dans la valeur :", "Adjustments for your property, included in the value:"],
  adjustment: ["{p} : {l}", "{p}: {l}"],
  km: ["{v} km", "{v} km"],
  km_near: ["moins de 0,1 km", "under 0.1 km"],
  unavailable_title: ["Estimation indisponible", "Estimate unavailable"],
  unavailable: ["Nous n'avons pas assez de ventes comparables pour estimer ce bien automatiquement.", "There are not enough comparable sales to estimate this property automatically."],
  unavailable_agencies: ["Les agences ci-dessous peuvent l'estimer gratuitement lors d'une visite.", "The agencies below can estimate it for free during a visit."],
  synthetic: ["Estimation de démonstration : calculée sur des ventes fictives.", "Demonstration estimate: computed from fictitious sales."],
  edit: ["Modifier mon bien", "Change my property"],
  h_lead: ["Faites affiner cette estimation par une agence", "Have an agency refine this estimate"],
  lead_intro: ["Une visite permet de fixer un prix précis. Indiquez vos coordonnées, puis cochez les agences qui pourront vous contacter.", "A visit gives a precise price. Enter your contact details, then tick the agencies that may contact you."],
  agencies: ["Agences qui pourront vous contacter", "Agencies that may contact you"],
  consent_all: ["Toutes les agences ci-dessous", "All the agencies below"],
  consent_fallback: ["J'accepte que les agences cochées ci-dessous me contactent par téléphone ou par e-mail au sujet de mon projet de vente.", "I agree that the agencies ticked below may contact me by phone or e-mail about selling my property."],
  distance: ["à {d} km", "{d} km away"],
  distance_near: ["à moins de 0,1 km", "less than 0.1 km away"],
  no_agency: ["Aucune agence partenaire ne couvre encore ce secteur : nous ne pouvons pas transmettre votre demande pour le moment.", "No partner agency covers this area yet, so we cannot pass on your request for now."],
  contact: ["Vos coordonnées", "Your contact details"],
  first_name: ["Prénom", "First name"],
  last_name: ["Nom", "Last name"],
  email: ["Adresse e-mail", "E-mail address"],
  phone: ["Téléphone", "Phone"],
  project: ["Votre projet", "Your project"],
  timeline: ["Quand souhaitez-vous vendre ?", "When do you want to sell?"],
  choose: ["Choisissez…", "Choose…"],
  tl_asap: ["Dès que possible", "As soon as possible"],
  tl_lt_3_months: ["Dans moins de 3 mois", "Within 3 months"],
  tl_3_6_months: ["Dans 3 à 6 mois", "In 3 to 6 months"],
  tl_gt_6_months: ["Dans plus de 6 mois", "In more than 6 months"],
  tl_curious: ["Je me renseigne", "Just looking"],
  is_owner: ["Êtes-vous propriétaire de ce bien ?", "Do you own this property?"],
  website: ["Ne remplissez pas ce champ", "Leave this field empty"],
  privacy: ["Vos coordonnées ne sont transmises qu'aux agences que vous avez cochées ci-dessus : elles seules pourront vous appeler, pour vous proposer une visite d'estimation gratuite et vous accompagner dans la vente si vous le souhaitez. Mandat conserve vos données le temps nécessaire à ce service. Un lien dans l'e-mail de confirmation vous permet à tout moment de les consulter, de les exporter ou de les effacer.", "Your details go only to the agencies you ticked above: only they may call you, to offer a free valuation visit and help you sell if you wish. Mandat keeps your data for as long as this service needs it. A link in the confirmation e-mail lets you see, export or erase your data at any time."],
  lead_submit: ["Être contacté(e)", "Get contacted"],
  lead_busy: ["Envoi en cours…", "Sending…"],
  selling: ["Une seule des agences cochées peut d'abord acheter votre demande, pour elle seule pendant {hours} heures ; si aucune ne le fait, {cap} au plus pourront l'acheter ensuite. Les agences paient Mandat pour recevoir vos coordonnées.", "One of the agencies you tick may buy your request first, alone, for {hours} hours; if none does, at most {cap} may buy it after that. Agencies pay Mandat to receive your contact details."],
  selling_unknown: ["Une seule des agences cochées peut d'abord acheter votre demande, pour elle seule pendant quelques heures ; ensuite, quelques-unes au plus. Les agences paient Mandat pour recevoir vos coordonnées.", "One of the agencies you tick may buy your request first, alone, for a few hours; after that, only a few may. Agencies pay Mandat to receive your contact details."],
  privacy_link: ["Politique de confidentialité", "Privacy policy"],
  legal_link: ["Mentions légales", "Legal notice"],
  done_reference: ["Référence de votre demande :", "Your request's reference:"],
  done_estimate: ["Votre estimation : {mid}, entre {low} et {high}.", "Your estimate: {mid}, between {low} and {high}."],
  done_no_estimate: ["Votre estimation : pas assez de ventes comparables pour estimer votre bien en ligne.", "Your estimate: not enough comparable sales to estimate your property online."],
  done_call: ["Quand appeler ? La première agence qui achète votre demande l'a pour elle seule pendant {hours} heures : attendez son appel dans ce délai. Sinon, jusqu'à {cap} agences pourront vous appeler au cours des {days} jours suivants.", "When to expect a call: the first agency that buys your request has it alone for {hours} hours, so expect its call within that time. Otherwise, up to {cap} agencies may call you over the next {days} days."],
  h_done: ["Merci, votre demande est bien envoyée", "Thank you, your request has been sent"],
  done_agencies: ["Les agences que vous avez choisies pourront vous appeler pour convenir d'une visite d'estimation gratuite :", "The agencies you chose may call you to arrange a free valuation visit:"],
  done_email: ["Vous allez recevoir un e-mail de confirmation. Il contient un lien pour consulter, exporter ou effacer vos données.", "You will receive a confirmation e-mail with a link to see, export or erase your data."],
  summary_1: ["Veuillez corriger le point suivant :", "Please correct the following:"],
  summary_n: ["Veuillez corriger les {n} points suivants :", "Please correct the following {n} points:"],
  e_type: ["Choisissez le type de bien.", "Choose the property type."],
  e_surface_m2: ["Indiquez une surface comprise entre 5 et 10 000 m².", "Enter an area between 5 and 10,000 m²."],
  e_rooms: ["Indiquez un nombre de pièces entre 0 et 50.", "Enter a number of rooms between 0 and 50."],
  e_bedrooms: ["Indiquez un nombre de chambres entre 0 et 50.", "Enter a number of bedrooms between 0 and 50."],
  e_floor: ["Indiquez un étage entre -5 et 100.", "Enter a floor between -5 and 100."],
  e_year: ["Indiquez une année à 4 chiffres, par exemple 1975.", "Enter a 4-digit year, for example 1975."],
  e_land_m2: ["Indiquez la surface du terrain en m², par exemple 450.", "Enter the land area in m², for example 450."],
  e_postal_code: ["Saisissez un code postal à 5 chiffres.", "Enter a 5-digit postcode."],
  e_postal_unknown: ["Code postal inconnu : vérifiez les 5 chiffres.", "Unknown postcode: check the 5 digits."],
  e_city: ["Choisissez votre commune dans la liste.", "Choose your town from the list."],
  e_city_unknown: ["Cette commune ne correspond pas au code postal.", "This town does not match the postcode."],
  e_cities_failed: ["Impossible de charger les communes pour le moment. Réessayez dans un instant.", "Towns could not be loaded right now. Please try again in a moment."],
  e_street: ["L'adresse est trop longue (200 caractères au plus).", "The address is too long (200 characters at most)."],
  e_first_name: ["Indiquez votre prénom.", "Enter your first name."],
  e_last_name: ["Indiquez votre nom.", "Enter your last name."],
  e_email: ["Saisissez une adresse e-mail valide, par exemple nom@exemple.fr.", "Enter a valid e-mail address, for example name@example.com."],
  e_email_disposable: ["Les adresses e-mail jetables ne sont pas acceptées.", "Disposable e-mail addresses are not accepted."],
  e_phone: ["Saisissez un numéro de téléphone français valide, par exemple 06 12 34 56 78.", "Enter a valid French phone number, for example 06 12 34 56 78."],
  e_timeline: ["Indiquez quand vous souhaitez vendre.", "Tell us when you want to sell."],
  e_is_owner: ["Indiquez si vous êtes propriétaire du bien.", "Tell us whether you own the property."],
  e_agency_ids: ["Cochez au moins une agence.", "Tick at least one agency."],
  e_agency_not_offered: ["Une agence cochée n'est plus proposée : modifiez votre bien pour relancer l'estimation.", "A ticked agency is no longer offered: change your property to run the estimate again."],
  e_consent: ["Le texte de consentement n'a pas pu être chargé. Réessayez dans un instant.", "The consent text could not be loaded. Please try again in a moment."],
  e_network: ["Connexion impossible. Vérifiez votre connexion internet, puis réessayez.", "No connection. Check your internet connection, then try again."],
  e_service: ["Le service est momentanément indisponible. Réessayez dans quelques instants.", "The service is temporarily unavailable. Please try again in a few moments."],
  e_generic: ["Votre demande n'a pas pu être traitée. Réessayez, ou modifiez votre bien pour recommencer.", "Your request could not be processed. Try again, or change your property to start over."],
  e_other: ["Une information n'a pas été acceptée : {m}", "Something was not accepted: {m}"],
};

// Server error codes that deserve a more precise message than their field's own.
const CODES = {
  unknown_postal_code: "e_postal_unknown",
  unknown_city: "e_city_unknown",
  disposable_email: "e_email_disposable",
  no_agency_consented: "e_agency_ids",
  agency_not_offered: "e_agency_not_offered",
};
const DIGITS5 = /^\d{5}$/;

const $ = (id) => document.getElementById(id);
const el = (tag, props, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const query = new URLSearchParams(location.search);
const rawSource = query.get("source") || "";
const source = rawSource.length <= 64 && /^[a-z0-9][a-z0-9._-]*$/.test(rawSource) ? rawSource : null;
const S = {
  lang: query.get("lang") === "en" ? "en" : "fr",
  step: "property",
  errors: [], // {name?, key?, text?, live?}; live ones (postal code look-up) stay out of the summary
  pc: "", // the postal code `communes` is for
  communes: null, // null: not looked up yet; []: unknown postal code
  pcState: "idle", // idle | loading | failed
  abort: null,
  consent: {}, // lang → {version, text}
  rules: null, // the selling rule in force (exclusive hours, shared cap, offer days), read once
  reference: "",
  estimation: null,
  ticks: new Map(), // agency id → "box" | "all": the boxes the person ticked, and how
  chosen: [],
  busy: false,
  streets: [], // the street suggestions shown
  street: -1, // the one the arrows point at
  streetAbort: null,
  streetTimer: 0,
};

function t(key, vars) {
  let text = TEXTS[key] ? TEXTS[key][S.lang === "en" ? 1 : 0] : key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name]));
  // French typography: a no-break space before : ? ! » and after «, never a line start.
  return S.lang === "fr" ? text.replace(/ ([:;?!»])/g, "\u00a0$1").replace(/« /g, "«\u00a0") : text;
}
const format = (value, options) =>
  new Intl.NumberFormat(S.lang === "en" ? "en-GB" : "fr-FR", options).format(value);
const euros = (value) => format(value, { style: "currency", currency: "EUR", maximumFractionDigits: 0 });

/* The parent page sizes the iframe from our height: the body's, since the document's
 * scrollHeight never drops below the iframe's current height (the frame could never shrink). */
const embedded = window.parent !== window;
const tell = (message) => embedded && window.parent.postMessage(message, "*");
let lastHeight = 0;
function postHeight() {
  const height = Math.ceil(document.body.getBoundingClientRect().height);
  if (height !== lastHeight) tell({ type: "mandat:height", height: (lastHeight = height) });
}

/* ---------- texts ---------- */

function translate() {
  document.documentElement.lang = S.lang;
  document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((node) => (node.textContent = t(node.dataset.t)));
  document.querySelectorAll(".field > label").forEach((node) => (node.textContent = t(node.htmlFor)));
  document.querySelectorAll("[data-t-label]").forEach((node) => node.setAttribute("aria-label", t(node.dataset.tLabel)));
  document.querySelectorAll(".lang button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === S.lang)));
  surfaceLabel();
  $("estimate-submit").textContent = t(S.busy && S.step === "property" ? "estimate_busy" : "estimate_submit");
  $("lead-submit").textContent = t(S.busy && S.step === "contact" ? "lead_busy" : "lead_submit");
  renderCities();
  renderStreets();
  renderConsent();
  if (S.estimation) renderEstimation(false);
  renderDone();
  renderErrors();
}

function surfaceLabel() {
  const type = document.querySelector('input[name="type"]:checked');
  $("surface_m2").labels[0].textContent = t(type && type.value === "terrain" ? "surface_land" : "surface_m2");
}

function setLang(lang) {
  if (lang === S.lang) return;
  S.lang = lang;
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  history.replaceState(null, "", url);
  translate();
  loadConsent();
}

/* ---------- errors: under each field, and a summary at the top of the step ---------- */

function inputsOf(name) {
  const field = $(S.step === "property" ? "property-form" : "lead-form").elements.namedItem(name);
  return !field ? [] : field instanceof RadioNodeList ? Array.from(field) : [field];
}

function renderErrors() {
  document.querySelectorAll(".error").forEach((node) => (node.textContent = ""));
  document.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  const items = [];
  for (const error of S.errors) {
    const message = error.key ? t(error.key) : t("e_other", { m: error.text });
    const inputs = error.name ? inputsOf(error.name) : [];
    const slot = inputs.length && $(`${error.name}-error`);
    if (slot && !slot.textContent) slot.textContent = message;
    inputs.forEach((input) => input.setAttribute("aria-invalid", "true"));
    if (!error.live) items.push([message, inputs[0]]);
  }
  const summary = $("error-summary");
  summary.hidden = !items.length;
  if (!items.length) return summary.replaceChildren();
  $(`step-${S.step}`).querySelector("h2").after(summary);
  const list = items.map(([message, input]) => {
    if (!input) return el("li", {}, message);
    const link = el("a", { href: `#${input.id}` }, message);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      input.focus();
    });
    return el("li", {}, link);
  });
  if (!items.some(([, input]) => input)) {
    // Nothing to correct in the form (network, server): the message alone.
    return summary.replaceChildren(...items.map(([message]) => el("p", {}, message)));
  }
  const title = items.length === 1 ? t("summary_1") : t("summary_n", { n: items.length });
  summary.replaceChildren(el("p", {}, title), el("ul", {}, ...list));
}

function showErrors(errors) {
  S.errors = errors.concat(S.errors.filter((e) => e.live && !errors.some((x) => x.name === e.name)));
  renderErrors();
  const first = errors.map((e) => inputsOf(e.name)).find((inputs) => inputs.length);
  if (first) (first.find((input) => input.checked) || first[0]).focus();
  else $("error-summary").focus();
}

function clearError(name) {
  const kept = S.errors.filter((e) => e.name !== name);
  if (kept.length !== S.errors.length) {
    S.errors = kept;
    renderErrors();
  }
}

/** A 422 answer's errors, each on its field when the step has it (path `property.surface_m2`
 * → `surface_m2`, `consent.agency_ids[0]` → `agency_ids`), otherwise in the summary. */
function serverErrors(problem) {
  const list = (problem && problem.errors) || [];
  if (!list.length) return [{ key: "e_generic" }];
  return list.map(({ path = "", code, message }) => {
    if (path.startsWith("consent.text_version")) {
      S.consent = {};
      loadConsent();
      return { key: "e_consent" };
    }
    let name = path.replace(/\[\d+\]/g, "").split(".").pop();
    if (name === "website" || !inputsOf(name).length) name = null;
    const key = CODES[code] || (name && `e_${name}`);
    return key in TEXTS ? { name, key } : { name, text: message || code };
  });
}

const failure = (status) => [{ key: status >= 500 || status === 429 ? "e_service" : "e_generic" }];

async function send(url, body) {
  const headers = { Accept: "application/json" };
  if (body) headers["Content-Type"] = "application/json";
  const init = body ? { method: "POST", headers, body: JSON.stringify(body) } : { headers };
  const response = await fetch(url, init);
  const json = (response.headers.get("Content-Type") || "").includes("json");
  return { status: response.status, data: json ? await response.json().catch(() => null) : null };
}

/** Runs `request` with the button disabled; null when the network failed. */
async function busy(button, key, request) {
  S.busy = true;
  button.disabled = true;
  button.textContent = t(`${key}_busy`);
  try {
    return await request();
  } catch (_) {
    return null;
  } finally {
    S.busy = false;
    button.disabled = false;
    button.textContent = t(`${key}_submit`);
  }
}

/* ---------- step 1: the property ---------- */

function number(text, integer = false, negative = false) {
  text = text.replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
  const shape = integer ? (negative ? /^-?\d+$/ : /^\d+$/) : /^\d+(\.\d+)?$/;
  return shape.test(text) ? Number(text) : NaN;
}

async function lookUp(code) {
  if (S.abort) S.abort.abort();
  const abort = (S.abort = new AbortController());
  Object.assign(S, { pc: code, communes: null, pcState: "loading" });
  renderCities();
  try {
    const response = await fetch(`/api/v1/communes?postal_code=${code}`, { signal: abort.signal });
    if (!response.ok) throw new Error(String(response.status));
    const items = (await response.json()).items;
    Object.assign(S, { communes: Array.isArray(items) ? items : [], pcState: "idle" });
  } catch (error) {
    if (abort.signal.aborted) return;
    S.pcState = "failed";
  }
  S.errors = S.errors.filter((e) => e.name !== "postal_code" && e.name !== "city");
  if (S.communes && !S.communes.length) S.errors.push({ name: "postal_code", key: "e_postal_unknown", live: true });
  renderCities();
  renderErrors();
}

function onPostalCode() {
  const code = $("postal_code").value.trim();
  if (code === S.pc) return;
  if (DIGITS5.test(code)) return void lookUp(code);
  if (S.abort) S.abort.abort();
  Object.assign(S, { pc: "", communes: null, pcState: "idle" });
  S.errors = S.errors.filter((e) => !e.live);
  renderCities();
  renderErrors();
}

function renderCities() {
  const select = $("city");
  const previous = select.value;
  const communes = S.communes || [];
  const options = communes.map((c) => el("option", { value: c.name }, c.name));
  if (communes.length > 1) options.unshift(el("option", { value: "" }, t("city_choose")));
  if (!communes.length) {
    const empty = S.pcState === "loading" ? "city_loading" : S.communes ? "city_none" : "city_wait";
    options.push(el("option", { value: "" }, t(empty)));
  }
  select.replaceChildren(...options);
  select.disabled = !communes.length;
  if (communes.some((c) => c.name === previous)) select.value = previous;
  $("city-status").textContent = communes.length > 1 ? t("city_many", { n: communes.length }) : "";
}

/* ---------- the street: suggestions from the address base, as an ARIA combobox ---------- */

function onStreetInput() {
  clearTimeout(S.streetTimer);
  S.streetTimer = setTimeout(suggestStreets, 150);
}

async function suggestStreets() {
  const typed = $("street").value.trim();
  const code = $("postal_code").value.trim();
  if (S.streetAbort) S.streetAbort.abort();
  if (!DIGITS5.test(code) || (typed.match(/\p{L}/gu) || []).length < 2) return showStreets([]);
  const abort = (S.streetAbort = new AbortController());
  const params = new URLSearchParams({ postal_code: code, q: typed, city: $("city").value || "" });
  try {
    const response = await fetch(`/api/v1/places/streets?${params}`, { signal: abort.signal });
    const items = response.ok ? (await response.json()).items : [];
    showStreets(Array.isArray(items) ? items : []);
  } catch (_) {
    if (!abort.signal.aborted) showStreets([]); // the street is then typed freely
  }
}

function showStreets(items) {
  Object.assign(S, { streets: items, street: -1 });
  renderStreets();
}

function renderStreets() {
  const input = $("street");
  const list = $("street-options");
  const open = S.streets.length > 0 && document.activeElement === input;
  list.replaceChildren(
    ...S.streets.map((s, i) => {
      const where = [s.postal_code, s.city].filter(Boolean).join(" ") + (s.synthetic ? ` – ${t("street_demo")}` : "");
      const option = el("li", { id: `street-option-${i}` }, s.label, el("span", { className: "where" }, where));
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(i === S.street));
      option.addEventListener("mousedown", (event) => event.preventDefault()); // the focus stays in the field
      option.addEventListener("click", () => chooseStreet(i));
      return option;
    }),
  );
  list.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
  if (open && S.street >= 0) input.setAttribute("aria-activedescendant", `street-option-${S.street}`);
  else input.removeAttribute("aria-activedescendant");
  const count = S.streets.length;
  $("street-status").textContent = !open ? "" : count === 1 ? t("streets_1") : t("streets_n", { n: count });
  if (open && S.street >= 0) $(`street-option-${S.street}`).scrollIntoView({ block: "nearest" });
}

function chooseStreet(index) {
  $("street").value = S.streets[index].label;
  showStreets([]);
  $("street").focus();
}

function onStreetKey(event) {
  const count = S.streets.length;
  if (!count || $("street-options").hidden) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    // Down from the last, or up from the first, goes back to the text as typed (-1).
    const next = S.street + (event.key === "ArrowDown" ? 1 : -1);
    S.street = next >= count ? -1 : next < -1 ? count - 1 : next;
    renderStreets();
  } else if (event.key === "Enter" && S.street >= 0) {
    event.preventDefault(); // choose the street, do not send the form yet
    chooseStreet(S.street);
  } else if (event.key === "Escape") {
    event.preventDefault();
    showStreets([]);
  }
}

function readProperty() {
  const form = $("property-form");
  const value = (name) => form.elements.namedItem(name).value.trim();
  const errors = [];
  const property = {};
  const check = (name, ok, parsed = value(name)) => {
    if (ok) property[name] = parsed;
    else errors.push({ name, key: `e_${name}` });
  };
  check("type", !!value("type"));
  const surface = number(value("surface_m2"));
  check("surface_m2", surface >= 5 && surface <= 10000, surface);
  const rooms = number(value("rooms"), true);
  check("rooms", rooms >= 0 && rooms <= 50, rooms);
  for (const [name, low, high, integer] of [
    ["bedrooms", 0, 50, true],
    ["floor", -5, 100, true],
    ["year", 1000, 2100, true],
    ["land_m2", 0, 1e7, false],
  ]) {
    const n = number(value(name), integer, name === "floor");
    if (value(name)) check(name, n >= low && n <= high, n);
  }
  for (const name of ["lift", "parking"]) if (value(name)) property[name] = value(name) === "true";
  for (const name of ["condition", "outdoor_space"]) if (value(name)) property[name] = value(name);

  const address = { postal_code: value("postal_code"), city: value("city") };
  const place = !DIGITS5.test(address.postal_code)
    ? ["postal_code", "e_postal_code"]
    : S.pcState === "failed"
      ? ["postal_code", "e_cities_failed"]
      : S.communes && !S.communes.length
        ? ["postal_code", "e_postal_unknown"]
        : !address.city && ["city", "e_city"];
  if (place) errors.push({ name: place[0], key: place[1] });
  if (value("street")) address.street = value("street");

  const body = { property, address };
  if (source) body.source = source;
  const origin = embeddingOrigin();
  if (origin) body.embedding_origin = origin;
  return { body, errors };
}

async function submitProperty(event) {
  event.preventDefault();
  if (S.busy) return;
  const button = $("estimate-submit");
  const code = $("postal_code").value.trim();
  if (DIGITS5.test(code) && (code !== S.pc || S.pcState !== "idle")) {
    await busy(button, "estimate", () => lookUp(code));
  }
  const { body, errors } = readProperty();
  if (errors.length) return showErrors(errors);
  const answer = await busy(button, "estimate", () => send("/api/v1/estimations", body));
  if (!answer) showErrors([{ key: "e_network" }]);
  else if (answer.status === 201 && answer.data) {
    S.estimation = answer.data;
    renderEstimation(true);
    goTo("contact");
  } else if (answer.status === 422) showErrors(serverErrors(answer.data));
  else showErrors(failure(answer.status));
}

/* ---------- step 2: the estimate, the agencies, the contact ---------- */

/** Why the estimate is as sure as it says: what its comparables are like. */
function confidenceWhy(e) {
  const km = e.median_distance_m < 100 ? t("km_near") : t("km", { v: format(e.median_distance_m / 1000, { maximumFractionDigits: 1 }) });
  const why = t("conf_why", { p: format(e.dispersion_pct / 2), d: km, m: format(e.median_age_months) });
  return e.synthetic ? `${why} ${t("conf_why_synthetic")}` : why;
}

function renderEstimation(fresh) {
  const { estimate: e, agencies } = S.estimation;
  const texts = e.available
    ? [
        t("estimated_at"),
        t("range", { low: euros(e.low_eur), high: euros(e.high_eur) }),
        t("mid", { mid: euros(e.mid_eur) }),
        [
          t("per_m2", { v: format(e.eur_per_m2) }),
          e.comparables === 1 ? t("comparables_1") : t("comparables_n", { n: format(e.comparables) }),
          t("confidence", { c: t(`conf_${e.confidence}`) }),
        ].join(" · "),
      ]
    : ["", t("unavailable_title"), t("unavailable"), agencies.length ? t("unavailable_agencies") : ""];
  ["estimate-lead-in", "estimate-range", "estimate-mid", "estimate-facts"].forEach((id, i) => ($(id).textContent = texts[i]));
  $("estimate-why").textContent = e.available && e.dispersion_pct != null ? confidenceWhy(e) : "";
  const adjustments = (e.available && e.adjustments) || [];
  $("adjustments").hidden = !adjustments.length;
  $("adjustment-list").replaceChildren(
    ...adjustments.map((a) => {
      const percent = format(a.basis_points / 10000, { style: "percent", signDisplay: "always", maximumFractionDigits: 1 });
      return el("li", {}, t("adjustment", { p: percent, l: S.lang === "en" ? a.label_en : a.label_fr }));
    }),
  );
  $("synthetic-notice").hidden = !e.synthetic;

  // No box is ticked in advance: only the person's own ticks count as consent (S.ticks).
  if (fresh) S.ticks = new Map();
  const list = $("agency-list");
  const boxes = agencies.map((agency, index) => {
    const id = `agency-${index}`;
    const box = el("input", { type: "checkbox", name: "agency_ids", value: agency.id, id, checked: S.ticks.has(agency.id) });
    box.setAttribute("aria-describedby", "agency_ids-error");
    const km = agency.distance_km;
    const distance = km < 0.1 ? t("distance_near") : t("distance", { d: format(km, { maximumFractionDigits: 1 }) });
    const label = el("label", { htmlFor: id }, el("span", { className: "name" }, agency.name), " ", el("span", { className: "dist" }, distance));
    return el("li", {}, box, label);
  });
  list.replaceChildren(...boxes);
  renderAllControl();
  $("no-agency").hidden = agencies.length > 0;
  $("distance-from").textContent = agencies.length ? t(`from_${S.estimation.location_precision || "town_hall"}`) : "";
  $("lead-form").hidden = !agencies.length;
}

/** The "all agencies" control shows whether every box, some or none are ticked. */
function renderAllControl() {
  const all = $("consent-all");
  const count = S.estimation ? S.estimation.agencies.length : 0;
  all.checked = count > 0 && S.ticks.size === count;
  all.indeterminate = S.ticks.size > 0 && S.ticks.size < count;
  all.closest(".choice").hidden = count < 2;
}

/** A tick counts only when the person made it (a trusted event): on its own box (`box`), or on
 * the "all agencies" control (`all`, for the boxes it ticked). The proof goes with step 2. */
function onTick(event) {
  const target = event.target;
  if (!event.isTrusted) return;
  if (target.id === "consent-all") {
    for (const box of $("agency-list").querySelectorAll('[name="agency_ids"]')) {
      box.checked = target.checked;
      if (!target.checked) S.ticks.delete(box.value);
      else if (!S.ticks.has(box.value)) S.ticks.set(box.value, "all");
    }
  } else if (target.name === "agency_ids") {
    if (target.checked) S.ticks.set(target.value, "box");
    else S.ticks.delete(target.value);
  } else return;
  renderAllControl();
  clearError("agency_ids");
}

/** The origin of the page embedding the form (Mandat's own when it is not embedded). */
function embeddingOrigin() {
  if (!embedded) return location.origin;
  if (location.ancestorOrigins && location.ancestorOrigins.length) return location.ancestorOrigins[0];
  try {
    return new URL(document.referrer).origin;
  } catch (_) {
    return null;
  }
}

async function loadConsent() {
  const lang = S.lang;
  if (!S.consent[lang]) {
    try {
      const { status, data } = await send(`/api/v1/consent-text?lang=${lang}`);
      if (status === 200 && data && data.version && data.text) S.consent[lang] = { version: String(data.version), text: String(data.text) };
    } catch (_) {
      // The built-in sentence shows meanwhile; a lead is only sent with the server's version.
    }
    renderConsent();
  }
  return S.consent[lang] || null;
}

function renderConsent() {
  const consent = S.consent[S.lang];
  $("consent-text").textContent = consent ? consent.text : t("consent_fallback");
  $("selling-rule").textContent = S.rules ? t("selling", S.rules) : t("selling_unknown");
  $("privacy-link").href = `/privacy?lang=${S.lang}`;
  $("legal-link").href = `/legal?lang=${S.lang}`;
}

/** The selling rule the consent agrees to, from the live settings (the transparency route). */
async function loadRules() {
  try {
    const { status, data } = await send("/api/v1/transparency");
    if (status === 200 && data && data.selling) {
      const { exclusive_window_hours: hours, shared_cap: cap, offer_days: days } = data.selling;
      S.rules = { hours: format(hours), cap: format(cap), days: format(days), shared: cap };
    }
  } catch (_) {
    // The sentence without figures stays.
  }
  renderConsent();
  renderDone();
}

function readLead() {
  const form = $("lead-form");
  const value = (name) => form.elements.namedItem(name).value.trim();
  const contact = {};
  for (const name of ["first_name", "last_name", "email", "phone"]) contact[name] = value(name);
  const agencyIds = Array.from(form.querySelectorAll('[name="agency_ids"]:checked'), (box) => box.value).filter((id) => S.ticks.has(id));
  const consent = { agency_ids: agencyIds, text_version: "", ticked_via: Object.fromEntries(agencyIds.map((id) => [id, S.ticks.get(id)])) };
  const origin = embeddingOrigin();
  if (origin) consent.embedding_origin = origin;
  const body = {
    contact,
    project: { timeline: value("timeline"), is_owner: value("is_owner") === "true" },
    consent,
    website: form.elements.namedItem("website").value,
  };
  const wrong = {
    agency_ids: !agencyIds.length,
    first_name: !contact.first_name,
    last_name: !contact.last_name,
    email: !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(contact.email),
    phone: (contact.phone.match(/\d/g) || []).length < 10,
    timeline: !value("timeline"),
    is_owner: !value("is_owner"),
  };
  const errors = Object.keys(wrong).filter((name) => wrong[name]).map((name) => ({ name, key: `e_${name}` }));
  return { body, errors };
}

async function submitLead(event) {
  event.preventDefault();
  if (S.busy || !S.estimation) return;
  const { body, errors } = readLead();
  if (errors.length) return showErrors(errors);
  const id = encodeURIComponent(S.estimation.id);
  const answer = await busy($("lead-submit"), "lead", async () => {
    const consent = await loadConsent();
    if (!consent) return { status: 0 };
    body.consent.text_version = consent.version;
    return send(`/api/v1/estimations/${id}/lead`, body);
  });
  if (!answer) showErrors([{ key: "e_network" }]);
  else if (answer.status === 0) showErrors([{ key: "e_consent" }]);
  else if (answer.status === 201) {
    const ids = new Set(body.consent.agency_ids);
    S.chosen = S.estimation.agencies.filter((a) => ids.has(a.id)).map((a) => a.name);
    S.reference = (answer.data && answer.data.reference) || "";
    renderDone();
    goTo("done");
  } else if (answer.status === 422) showErrors(serverErrors(answer.data));
  else showErrors(failure(answer.status));
}

function renderDone() {
  $("done-agencies").replaceChildren(...S.chosen.map((name) => el("li", {}, name)));
  $("done-reference").textContent = S.reference;
  const e = S.estimation && S.estimation.estimate;
  $("done-estimate").textContent = !e ? "" : e.available ? t("done_estimate", { mid: euros(e.mid_eur), low: euros(e.low_eur), high: euros(e.high_eur) }) : t("done_no_estimate");
  // Never more callers than agencies ticked.
  const cap = S.rules && format(Math.min(S.rules.shared, S.chosen.length || S.rules.shared));
  $("done-call").textContent = S.rules ? t("done_call", { ...S.rules, cap }) : "";
}

/* ---------- steps ---------- */

function goTo(step) {
  S.step = step;
  S.errors = S.errors.filter((e) => e.live && step === "property");
  for (const name of ["property", "contact", "done"]) $(`step-${name}`).hidden = name !== step;
  renderErrors();
  $(`step-${step}`).querySelector("h2").focus();
  tell({ type: "mandat:scroll" });
  if (step === "contact") loadConsent();
}

function start() {
  // Each named field gets its error slot, announced with the field (`<name>-error`).
  for (const input of document.querySelectorAll(".field > [name]")) {
    const slot = el("p", { className: "error", id: `${input.name}-error` });
    input.parentNode.append(slot);
    const described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", described ? `${described} ${slot.id}` : slot.id);
  }
  $("postal_code-error").setAttribute("aria-live", "polite");
  for (const name of ["type", "is_owner"]) inputsOf(name).forEach((r) => r.setAttribute("aria-describedby", `${name}-error`));

  translate();
  document.documentElement.classList.add("ready");
  document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", () => setLang(b.dataset.lang)));
  $("edit-property").addEventListener("click", () => goTo("property"));
  $("postal_code").addEventListener("input", onPostalCode);
  $("street").addEventListener("input", onStreetInput);
  $("street").addEventListener("keydown", onStreetKey);
  $("street").addEventListener("blur", () => setTimeout(renderStreets, 0));
  $("property-form").addEventListener("submit", submitProperty);
  $("lead-form").addEventListener("submit", submitLead);
  $("lead-form").addEventListener("change", onTick);
  for (const form of document.forms) {
    const clear = (event) => event.target.name !== "postal_code" && clearError(event.target.name);
    form.addEventListener("input", clear);
    form.addEventListener("change", (event) => {
      clear(event);
      if (event.target.name === "type") surfaceLabel();
    });
  }
  if (DIGITS5.test($("postal_code").value.trim())) onPostalCode(); // a value restored by the browser
  loadConsent();
  loadRules();
  postHeight();
  window.addEventListener("load", postHeight);
  if (window.ResizeObserver) new ResizeObserver(postHeight).observe(document.body);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
