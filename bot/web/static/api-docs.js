// Starts Swagger UI on /api/docs with the service's own OpenAPI document. A file of its own,
// not an inline script, so that the page keeps the site's Content-Security-Policy.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");

  // Swagger UI's layout, made whole for screen readers (axe): its title (an h1) and the
  // document's description stand in a header landmark, and the endpoints get the h2 its
  // groups' h3 headings belong under.
  function landmarks(system) {
    var h = system.React.createElement;
    return {
      wrapComponents: {
        InfoContainer: function (Original) {
          return function (props) { return h("header", {role: "banner"}, h(Original, props)); };
        },
        operations: function (Original) {
          return function (props) {
            return h(system.React.Fragment, null,
                     h("h2", {className: "api-docs-endpoints"}, "Endpoints"),
                     h(Original, props));
          };
        },
      },
    };
  }

  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-document"),
    domNode: root,
    // Without deep links: they put a link inside each operation's button, which keyboards
    // and screen readers cannot reach on their own (axe: nested-interactive).
    deepLinking: false,
    // No badge from Swagger's online validator: the page loads nothing from other sites.
    validatorUrl: null,
    // The token typed into "Authorize" stays in this tab only.
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [landmarks],
    layout: "BaseLayout",
  });
})();
