// signalpost console: the only script. Progressive: every page works without it.
// 1. [data-refresh]: reloads a fragment of the page every data-interval seconds.
// 2. form[data-preview]: posts the form to data-preview as the operator types, shows the answer.
"use strict";

function csrfOf(form) {
  const field = form.querySelector('input[name="csrf"]');
  return field ? field.value : "";
}

function refresh(box) {
  const url = box.dataset.refresh;
  const seconds = Math.max(5, parseInt(box.dataset.interval || "15", 10));
  setInterval(async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.redirected || !response.ok) {
        // Signed out or expired: the full page shows the sign-in form.
        window.location.reload();
        return;
      }
      box.innerHTML = await response.text();
    } catch (e) {
      // Network blip: keep the last figures, try again next tick.
    }
  }, seconds * 1000);
}

function preview(form) {
  const target = document.getElementById(form.dataset.previewTarget);
  if (!target) return;
  let timer = null;
  const run = async () => {
    const body = new URLSearchParams(new FormData(form));
    try {
      const response = await fetch(form.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfOf(form), "Content-Type": "application/x-www-form-urlencoded" },
        body,
      });
      if (response.redirected) { window.location.reload(); return; }
      target.innerHTML = await response.text();
    } catch (e) {
      target.textContent = "Preview unavailable (network error).";
    }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 300); };
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  run();
}

function selectAll(box) {
  const form = box.form;
  box.addEventListener("change", () => {
    form.querySelectorAll('input[type="checkbox"][name="id"]').forEach((c) => { c.checked = box.checked; });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refresh);
  document.querySelectorAll("form[data-preview]").forEach(preview);
  document.querySelectorAll("input[data-select-all]").forEach(selectAll);
});
