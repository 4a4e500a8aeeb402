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
