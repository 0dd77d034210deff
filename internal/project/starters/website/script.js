// Small touches that show the page's script runs: the year in the footer
// and a dark-mode toggle that is remembered.
const toggle = document.querySelector(".theme-toggle");

function setDark(dark) {
  document.documentElement.classList.toggle("dark", dark);
  toggle.setAttribute("aria-pressed", String(dark));
  toggle.textContent = dark ? "Light mode" : "Dark mode";
}

let saved = null;
try {
  saved = localStorage.getItem("theme");
} catch {
  // Storage may be blocked in a sandboxed frame; the toggle still works.
}
setDark(saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches);

toggle.addEventListener("click", () => {
  const dark = !document.documentElement.classList.contains("dark");
  setDark(dark);
  try {
    localStorage.setItem("theme", dark ? "dark" : "light");
  } catch {
    // Not remembered, but still switched.
  }
});

document.getElementById("year").textContent = new Date().getFullYear();
