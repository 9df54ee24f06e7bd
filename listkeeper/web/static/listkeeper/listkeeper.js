// Listkeeper's only script, loaded from our own origin (the CSP forbids inline
// scripts). Every page works without it; it adds conveniences.
"use strict";

// Styles that only make sense with this script running (the collapsed menu).
document.documentElement.classList.add("js");

// "Select every member on this page": a header checkbox ticks the rows' boxes.
// Hidden in the HTML, shown here, so nobody without script sees a dead control.
for (const all of document.querySelectorAll("input.select-page[data-selects]")) {
  const form = all.form;
  const boxes = () =>
    Array.from(form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selects}"]`));
  const sync = () => {
    const ticked = boxes().filter((b) => b.checked).length;
    all.checked = ticked > 0 && ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
  };
  all.hidden = false;
  all.addEventListener("change", () => {
    for (const box of boxes()) box.checked = all.checked;
  });
  for (const box of boxes()) box.addEventListener("change", sync);
  sync();
}

// The navigation menu on narrow screens: a button toggles it.
for (const toggle of document.querySelectorAll("button[data-toggles]")) {
  const target = document.getElementById(toggle.dataset.toggles);
  if (!target) continue;
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    target.classList.toggle("open", open);
  });
}

// Done-messages (Django messages) get a close button; they never vanish by
// themselves, so nobody misses one while reading.
for (const toast of document.querySelectorAll(".toasts li")) {
  const close = document.createElement("button");
  close.type = "button";
  close.className = "dismiss";
  close.setAttribute("aria-label", "Dismiss this message");
  close.textContent = "×";
  close.addEventListener("click", () => {
    const list = toast.parentElement;
    toast.remove();
    if (list && !list.children.length) list.remove();
  });
  toast.append(close);
}
