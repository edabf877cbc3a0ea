// While a sync runs, the EHR sync page refreshes its progress region
// every few seconds in place (the page works without this: its Refresh
// link reloads it).
(function () {
  function tick() {
    var region = document.getElementById("progress");
    if (!region || !region.dataset.refresh) return;
    setTimeout(function () {
      fetch(location.pathname, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var next = new DOMParser().parseFromString(html, "text/html").getElementById("progress");
          if (!next) return;
          region.innerHTML = next.innerHTML;
          if (next.dataset.refresh) region.dataset.refresh = next.dataset.refresh;
          else delete region.dataset.refresh;
          tick();
        })
        .catch(function () {});
    }, Number(region.dataset.refresh) * 1000);
  }
  tick();
})();
