// The Jupyter widget manager (@jupyter-widgets/html-manager 1.x) typesets widget labels with the
// MathJax 2 call MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the site runs MathJax 3.
// Loaded (deferred) after MathJax on pages with widgets: provide that one call on top of MathJax 3.
(function () {
  var MJ = window.MathJax;
  if (!MJ || MJ.Hub || !MJ.typesetPromise && !MJ.startup) { return; }
  MJ.Hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset") {
          var el = job[2];
          Promise.resolve(MJ.startup && MJ.startup.promise)
            .then(function () { return MJ.typesetPromise(el ? [el] : undefined); })
            .catch(function (err) { console.warn("MathJax typeset of a widget failed:", err); });
        } else if (typeof job === "function") {
          job();
        }
      });
    },
    Config: function () {}
  };
})();
