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
  const width = document.getElementById("width");
  const height = document.getElementById("height");
  function fit() {
    const option = model && model.selectedOptions[0];
    if (!option) return;
    const custom = (option.dataset.custom || "").split(" ").filter(Boolean);
    const shapes = (option.dataset.shapes || "").split(" ");
    if (custom.length === 3) shapes.push("custom");
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
    // Custom width and height: on, with the model's bounds, only where it draws free sizes.
    [width, height].forEach(function (input) {
      if (!input) return;
      input.disabled = custom.length !== 3;
      if (custom.length === 3) {
        input.min = custom[0]; input.max = custom[1]; input.step = custom[2];
      }
    });
    const hint = document.getElementById("custom-size-hint");
    if (hint) hint.textContent = option.dataset.customHint || "";
    const limits = document.getElementById("limits");
    if (limits) limits.textContent = option.dataset.limits || "";
    if (n) {
      n.max = option.dataset.maxN || "1";
      if (Number(n.value) > Number(n.max)) n.value = n.max;
    }
  }
  // Typing a width or height asks for a custom size.
  [width, height].forEach(function (input) {
    if (!input) return;
    input.addEventListener("input", function () {
      if (size && !input.disabled) size.value = "custom";
      price();
    });
  });

  // The price before the click: what the request as set would cost.
  const estimate = document.getElementById("estimate");
  let pending = 0;
  function price() {
    if (!estimate || !model) return;
    const query = new URLSearchParams({
      model: model.value,
      size: size ? size.value : "",
      width: width ? width.value : "",
      height: height ? height.value : "",
      quality: quality ? quality.value : "",
      n: n ? n.value : "1",
    });
    const ticket = ++pending;
    fetch("/ui/estimate?" + query, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (ticket !== pending || !body) return;
        let text;
        if (body.error) text = body.error;
        else if (body.cost_usd === null) text = "Estimated cost: unknown (unpriced model)";
        else text = "Estimated cost: $" + body.cost_usd.toFixed(4);
        if (!body.error && typeof body.remaining_usd === "number") {
          text += " · budget left this month: $" + body.remaining_usd.toFixed(2);
          if (body.cost_usd !== null && body.cost_usd > body.remaining_usd) text += " (not enough)";
        }
        estimate.textContent = text;
      })
      .catch(function () {});
  }
  [model, size, quality, n].forEach(function (control) {
    if (control) control.addEventListener("change", function () { fit(); price(); });
  });
  if (n) n.addEventListener("input", price);
  fit();
  price();

  // One submission at a time, with a visible busy state. For models that stream, partial
  // images appear as they are drawn (server-sent events read from a POST).
  const form = document.getElementById("generate");
  const status = document.getElementById("status");
  function say(text) { if (status) status.textContent = text; }
  // Refusals go to the #error toast (role="alert", so screen readers announce it), with a
  // link that helps where there is one.
  function showError(text, link) {
    let box = document.getElementById("error");
    if (!box) {
      box = document.createElement("div");
      box.id = "error";
      box.className = "error toast";
      box.setAttribute("role", "alert");
      form.parentNode.insertBefore(box, form);
    }
    box.replaceChildren();
    const line = document.createElement("p");
    line.className = "toast-text";
    line.textContent = text;
    box.appendChild(line);
    if (link && link.href) {
      const p = document.createElement("p");
      const a = document.createElement("a");
      a.className = "toast-link";
      a.href = link.href;
      a.rel = "noopener";
      a.textContent = link.text || link.href;
      p.appendChild(a);
      box.appendChild(p);
    }
  }
  // An error event of the stream: moderation blocks link the usage policy.
  function streamError(error) {
    const blocked = error.code === "moderation_blocked" || error.code === "content_policy_violation";
    const link = error.link || (blocked && form.dataset.usagePolicy
      ? { href: form.dataset.usagePolicy, text: "Read the usage policy, then revise the prompt." } : null);
    let text = error.message || "The request was refused.";
    if (blocked && !error.link) text = "The content policy blocked this request: " + text + " Your prompt is kept so you can revise it.";
    showError(text, link);
  }
  function idle(button) {
    form.dataset.busy = "";
    if (button) { button.disabled = false; button.textContent = "Generate"; }
  }
  async function streamed(button) {
    const preview = document.getElementById("preview");
    const answer = await fetch("/ui/stream", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)),
    });
    if (!answer.ok || !answer.body) {
      let error = { message: "The request was refused." };
      try { error = (await answer.json()).error; } catch (e) { /* not JSON */ }
      const seconds = Number(answer.headers.get("Retry-After"));
      let text = error.message || "The request was refused.";
      if (seconds > 0 && !/try again in/i.test(text)) text += " Try again in " + Math.ceil(seconds) + " s.";
      showError(text, error.link);
      idle(button);
      return;
    }
    const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let completed = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter(function (l) { return l.startsWith("data:"); })
          .map(function (l) { return l.slice(5).trim(); }).join("");
        if (!data) continue;
        let event;
        try { event = JSON.parse(data); } catch (e) { continue; }
        if (event.error) { streamError(event.error); idle(button); return; }
        if (event.b64_json && preview) {
          preview.src = "data:image/" + (event.output_format || "png") + ";base64," + event.b64_json;
          preview.hidden = false;
        }
        if (event.type && event.type.endsWith(".completed")) { completed = true; say("Done."); }
        if (event.type && event.type.endsWith(".partial_image")) say("Drawing…");
      }
    }
    // The stream ends once the request's cost is settled: the page then shows it.
    if (completed) { window.location.assign("/?made=streamed"); return; }
    idle(button);
  }
  if (form) {
    form.addEventListener("submit", function (event) {
      const button = document.getElementById("generate-submit");
      if (form.dataset.busy === "1") { event.preventDefault(); return; }
      form.dataset.busy = "1";
      if (button) { button.disabled = true; button.textContent = "Generating…"; }
      say("Generating your image…");
      const option = model && model.selectedOptions[0];
      if (option && option.dataset.streams === "1" && window.TextDecoderStream && window.fetch) {
        event.preventDefault();
        streamed(button).catch(function () { showError("The connection was lost."); idle(button); });
      }
    });
  }

  // Edits and variations of an image: one submission at a time, with a busy state.
  ["edit-form", "variation-form"].forEach(function (id) {
    const derive = document.getElementById(id);
    if (!derive) return;
    derive.addEventListener("submit", function (event) {
      const button = derive.querySelector("button[type=submit]");
      if (derive.dataset.busy === "1") { event.preventDefault(); return; }
      derive.dataset.busy = "1";
      if (button) { button.disabled = true; button.textContent = "Working…"; }
      const status = document.getElementById("status");
      if (status) status.textContent = "Working on your image…";
    });
  });

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
