// ArtGen's progressive enhancement: everything works without this file.
"use strict";
(function () {
  // The prompt's length against the chosen model's limit, live.
  const prompt = document.getElementById("prompt");
  const model = document.getElementById("model");
  const count = document.getElementById("prompt-count");
  function limit() {
    const option = model && model.selectedOptions[0];
    return option ? Number(option.dataset.maxPrompt || 0) : 0;
  }
  function update() {
    if (!prompt || !count) return;
    const max = limit();
    const used = [...prompt.value].length;
    count.textContent = max ? used + " / " + max + " characters" : used + " characters";
    if (max) prompt.maxLength = max;
  }
  if (prompt) prompt.addEventListener("input", update);
  if (model) model.addEventListener("change", update);
  update();

  // Controls the chosen model does not take are disabled, with the reason as their title, so
  // an invalid combination cannot be sent.
  const size = document.getElementById("size");
  const quality = document.getElementById("quality");
  const n = document.getElementById("n");
  function fit() {
    const option = model && model.selectedOptions[0];
    if (!option) return;
    const shapes = (option.dataset.shapes || "").split(" ");
    const qualities = (option.dataset.qualities || "").split(" ");
    function restrict(select, allowed, what) {
      if (!select) return;
      for (const o of select.options) {
        const ok = o.value === "" || allowed.includes(o.value);
        o.disabled = !ok;
        o.title = ok ? "" : option.value + " does not take this " + what;
      }
      if (select.selectedOptions[0] && select.selectedOptions[0].disabled) {
        const first = [...select.options].find(function (o) { return !o.disabled; });
        if (first) select.value = first.value;
      }
    }
    restrict(size, shapes, "size");
    restrict(quality, qualities, "quality");
    restrict(document.getElementById("background"), (option.dataset.backgrounds || "").split(" "), "background");
    restrict(document.getElementById("format"), (option.dataset.formats || "").split(" "), "format");
    if (n) {
      n.max = option.dataset.maxN || "1";
      if (Number(n.value) > Number(n.max)) n.value = n.max;
    }
  }

  // The price before the click: what the request as set would cost.
  const estimate = document.getElementById("estimate");
  let pending = 0;
  function price() {
    if (!estimate || !model) return;
    const query = new URLSearchParams({
      model: model.value,
      size: size ? size.value : "",
      quality: quality ? quality.value : "",
      n: n ? n.value : "1",
    });
    const ticket = ++pending;
    fetch("/ui/estimate?" + query, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (ticket !== pending || !body) return;
        if (body.error) estimate.textContent = body.error;
        else if (body.cost_usd === null) estimate.textContent = "Estimated cost: unknown (unpriced model)";
        else estimate.textContent = "Estimated cost: $" + body.cost_usd.toFixed(4);
      })
      .catch(function () {});
  }
  [model, size, quality, n].forEach(function (control) {
    if (control) control.addEventListener("change", function () { fit(); price(); });
  });
  if (n) n.addEventListener("input", price);
  fit();
  price();

  // One submission at a time, with a visible busy state.
  const form = document.getElementById("generate");
  if (form) {
    form.addEventListener("submit", function (event) {
      const button = document.getElementById("generate-submit");
      if (form.dataset.busy === "1") { event.preventDefault(); return; }
      form.dataset.busy = "1";
      if (button) { button.disabled = true; button.textContent = "Generating…"; }
      const status = document.getElementById("status");
      if (status) status.textContent = "Generating your image…";
    });
  }

  // Copy URL buttons copy the signed link.
  document.querySelectorAll("a.copy-url").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!navigator.clipboard) return;
      event.preventDefault();
      navigator.clipboard.writeText(link.href).then(function () {
        const status = document.getElementById("status");
        if (status) status.textContent = "Link copied.";
      });
    });
  });
})();
