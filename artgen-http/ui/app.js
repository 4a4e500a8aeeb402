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
  function showError(text, link) {
    let box = document.getElementById("error");
    if (!box) {
      box = document.createElement("p");
      box.id = "error";
      box.className = "error";
      box.setAttribute("role", "alert");
      form.parentNode.insertBefore(box, form);
    }
    box.textContent = text;
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.rel = "noopener";
      a.textContent = link.text;
      box.append(" ", a);
    }
  }
  // A refusal says what the page without script says: when to retry, and for a moderation
  // block the usage policy (the link the server's pages give, USAGE_POLICY in ui/mod.rs).
  function showRefusal(error, retryAfter) {
    let text = (error && error.message) || "The request was refused.";
    const seconds = Number(retryAfter);
    if (seconds > 0 && !/try again in/i.test(text)) {
      text += " (try again in " + Math.max(1, Math.ceil(seconds)) + " s)";
    }
    const code = error && error.code;
    const moderated = code === "moderation_blocked" || code === "content_policy_violation";
    showError(text, moderated ? {
      href: "https://openai.com/policies/usage-policies",
      text: "Read the usage policy, then revise the prompt.",
    } : null);
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
      let error = null;
      try { error = (await answer.json()).error; } catch (e) { /* not JSON */ }
      showRefusal(error, answer.headers.get("Retry-After"));
      idle(button);
      return;
    }
    const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
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
        if (event.error) { showRefusal(event.error, null); idle(button); return; }
        if (event.b64_json && preview) {
          preview.src = "data:image/" + (event.output_format || "png") + ";base64," + event.b64_json;
          preview.hidden = false;
        }
        if (event.type && event.type.endsWith(".completed")) {
          say("Done.");
          window.location.assign("/?made=streamed");
          return;
        }
        if (event.type && event.type.endsWith(".partial_image")) say("Drawing…");
      }
    }
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
