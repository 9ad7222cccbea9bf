"""Content-Security-Policy of the pages and the admin (django-csp; not under /api/, not on
answers that are not HTML): scripts and styles only from this server's files, so that
markup injected into a page runs nothing; no inline script, style element or style
attribute (the templates keep theirs in static/), no plugins, no <base>, no framing.
Forms post here, and to Stripe's Checkout by the redirect after Buy
(STRIPE_CHECKOUT_ORIGIN, added by the middleware). docs/decisions.md, "Content Security
Policy"."""

from csp.constants import NONE, SELF

PAGES_CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Swagger UI at /api/docs/ (common.api.docs; the middleware passes /api/ by): the pages' policy
# with `data:` images, as swagger-ui.css draws its icons so, and forms to this server only.
# Its start-up script is a file (?script), its page has no inline style.
API_DOCS_DIRECTIVES = {
    **PAGES_CONTENT_SECURITY_POLICY["DIRECTIVES"],
    "img-src": [SELF, "data:"],
}
