// Applied before the first paint: the theme saved by the toggle (auto follows the system).
(function () {
  try {
    var theme = localStorage.getItem("goodjob-theme");
    if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
  } catch (e) { /* storage disabled: follow the system */ }
})();
