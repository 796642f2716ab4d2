/* /api/v1/docs: Swagger UI (django-ninja's copy) with the settings the page holds as JSON. */
(function () {
  "use strict";
  var element = document.getElementById("swagger-settings");
  if (!element || typeof SwaggerUIBundle === "undefined") {
    return;
  }
  var settings = JSON.parse(element.textContent);
  settings.presets = [SwaggerUIBundle.presets.apis];
  SwaggerUIBundle(settings);
})();
