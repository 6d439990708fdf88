// The API page: Swagger UI, from the gateway's own copy, over /openapi.json.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: false, validatorUrl: null });
});
