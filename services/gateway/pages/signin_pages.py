"""Signing in and out: at the programme's OpenID Connect provider (``signin``) and, for the demo only, by
choosing a profile and a DEMO person (``REBUILDING_DEV_LOGIN=1``).

The session is the provider's **access token** when the gateway verifies it (RS256, the provider's issuer
and ``REBUILDING_OIDC_AUDIENCE``, roles it knows); otherwise the **ID token**, verified the same way (its
audience is the client id): either way a token the API verifies, as every page's session must be. A
sign-in whose tokens the gateway does not verify ends on an error page without a session.

Each route has its row in ``authorisation.SIGN_IN_PAGES``: they are open to anyone.
"""

import logging
import time

import jwt
from werkzeug.utils import redirect

from rebuilding import auth
from rebuilding.errors import Invalid
from services.gateway import authorisation
from services.gateway.api import authenticated, call
from services.gateway.pages import session, signin
from services.gateway.pages.routes import web_page
from services.gateway.pages.settings import dev_login

log = logging.getLogger(__name__)

SIGN_IN_ROLES = ("staff", "ambito", "participant", "auditor")
SESSION_SECONDS = 8 * 3600
HOMES = {"staff": "/anci", "auditor": "/anci", "ambito": "/ambito", "participant": "/partecipante"}

REASONS = {
    "expired": ("Accesso scaduto", "La richiesta di accesso è scaduta o non è partita da questo browser. "
                                   "Ricominci l'accesso."),
    "state": ("Accesso non valido", "La risposta del sistema di identità non corrisponde alla richiesta di accesso "
                                    "partita da questo browser. Ricominci l'accesso."),
    "code": ("Accesso non valido", "Il codice di accesso non è valido, è scaduto o è già stato usato. "
                                   "Ricominci l'accesso."),
    "nonce": ("Accesso non valido", "L'identità ricevuta non appartiene a questa richiesta di accesso. "
                                    "Ricominci l'accesso."),
    "denied": ("Accesso annullato", "L'accesso è stato annullato o negato presso il sistema di identità."),
    "profile": ("Profilo non abilitato", "L'identità è stata riconosciuta, ma non ha un profilo abilitato su questa "
                                         "piattaforma. Si rivolga ad ANCI Lombardia per essere abilitato."),
    "unreachable": ("Sistema di identità non raggiungibile", "Il sistema di identità non risponde. Nessun accesso è "
                                                             "stato effettuato: riprovi tra qualche minuto."),
    "provider": ("Accesso non riuscito", "Il sistema di identità ha dato una risposta non valida. Nessun accesso è "
                                         "stato effettuato: riprovi più tardi o si rivolga all'assistenza."),
    "off": ("Accesso non configurato", "L'accesso tramite il sistema di identità non è configurato su questa "
                                       "installazione: si rivolga all'amministratore."),
}


def sign_in_page(methods: str, rule: str):
    """A page of signing in or out: served only with its row in ``authorisation.SIGN_IN_PAGES``."""
    for method in methods.split(","):
        authorisation.page_row(method, rule)
    return web_page(methods, rule)


def safe_next(value: str | None) -> str | None:
    """A local path to go back to after signing in; nothing that leads to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def home(principal: auth.Principal) -> str:
    return next((HOMES[role] for role in SIGN_IN_ROLES if role in principal.roles), "/")


class SignInPages:
    @sign_in_page("GET,POST", "/accesso")
    def page_sign_in(self, ctx):
        after = safe_next(ctx.request.values.get("dopo"))
        shown = {"after": after, "roles": SIGN_IN_ROLES, "oidc": signin.configured(),
                 "provider": signin.provider_name()}
        if not dev_login():
            return ctx.render("accesso.html", people=[], **shown)
        people = [p for p in call(self.labs.people) if "DEMO" in p["name"]]
        if ctx.request.method == "GET":
            return ctx.render("accesso.html", people=people, **shown)
        role, person_id = ctx.request.form.get("ruolo"), ctx.request.form.get("persona")
        person = next((p for p in people if p["person_id"] == person_id), None)
        if role not in SIGN_IN_ROLES or person is None:
            raise Invalid("choose a role and a DEMO person", {"ruolo": ["required"], "persona": ["required"]})
        if role == "ambito" and not person["ambito_id"]:
            raise Invalid("this person is in no Ambito", {"persona": ["not of an Ambito"]})
        token = auth.mint(person_id, [role], ambito=person["ambito_id"] if role == "ambito" else None,
                          ttl_seconds=SESSION_SECONDS)
        response = redirect(after or HOMES[role], 303)
        session.sign_in(response, token, SESSION_SECONDS)
        return response

    @sign_in_page("GET", "/accesso/oidc")
    def page_sign_in_at_provider(self, ctx):
        """To the provider's authorization endpoint, with this sign-in's state kept in the browser."""
        if not signin.configured():
            return failed(ctx, signin.Failed(404, "off"))
        try:
            url, flow = signin.begin(safe_next(ctx.request.args.get("dopo")))
        except signin.Failed as failure:
            return failed(ctx, failure)
        response = redirect(url, 303)
        session.begin_flow(response, flow.cookie(), signin.FLOW_SECONDS)
        return response

    @sign_in_page("GET", "/accesso/ritorno")
    def page_sign_in_return(self, ctx):
        """Back from the provider: the session, or an error page; the sign-in's state is spent either way."""
        if not signin.configured():
            return failed(ctx, signin.Failed(404, "off"))
        flow = signin.Flow.from_cookie(session.flow(ctx.request))
        try:
            tokens = signin.finish(flow, ctx.request.args)
            token, principal = self._session_token(tokens)
        except signin.Failed as failure:
            return failed(ctx, failure)
        ttl = int(jwt.decode(token, options={"verify_signature": False})["exp"] - time.time())
        response = redirect(flow.after or home(principal), 303)
        session.end_flow(response)
        session.sign_in(response, token, max(ttl, 1), id_token=tokens.id_token)
        log.info("signed in at the provider: %s as %s", principal.sub, ", ".join(sorted(principal.roles)))
        return response

    def _session_token(self, tokens: signin.Tokens) -> tuple[str, auth.Principal]:
        """The access token if the gateway verifies it, else the ID token: the first the API would take."""
        refusals = []
        for name, token in (("access token", tokens.access_token), ("ID token", tokens.id_token)):
            if token:
                try:
                    return token, authenticated(self, f"Bearer {token}")
                except auth.Unauthenticated as refusal:
                    refusals.append(f"{name}: {refusal.message}")
        raise signin.Failed(403, "profile", "; ".join(refusals))

    @sign_in_page("POST", "/uscita")
    def page_sign_out(self, ctx):
        """Out of the pages, and out of the provider too when the session came from it and it offers that."""
        response = redirect(signin.end_session_url(session.id_token(ctx.request)) or "/", 303)
        session.sign_out(response)
        return response


def failed(ctx, failure: signin.Failed):
    """An Italian error page, the sign-in's state spent, and no session."""
    log.warning("sign-in refused (%s, %s): %s", failure.status, failure.reason, failure.detail)
    title, text = REASONS[failure.reason]
    response = ctx.render("errore.html", failure.status, title=title, text=text,
                          retry="/accesso" if failure.reason != "off" else None)
    session.end_flow(response)
    return response
