"""A second, independent OpenID Provider for the tests: django-oauth-toolkit
(pinned in requirements.txt) with OpenID Connect on, RS256 ID tokens, PKCE
required, rotating refresh tokens, opaque access tokens, revocation and
introspection (listed only in its RFC 8414 metadata, not in its OpenID
discovery document), RP-initiated logout, and Django's own login form.

    python server.py PORT REDIRECT_ORIGIN STATE_DIR [ACCESS_TOKEN_SECONDS]

Listens on 127.0.0.1:PORT; issuer http://127.0.0.1:PORT/o. Registers one
confidential client (`tessera` / `tessera-dot-secret`) whose redirect URI is
REDIRECT_ORIGIN/__tessera/callback, and the user alice / alice-password.
Prints "ready" when it accepts connections. Started and stopped by
tests/e2e/dot.mjs.
"""

import os
import sys

PORT = int(sys.argv[1])
REDIRECT_ORIGIN = sys.argv[2]
STATE_DIR = sys.argv[3]
ACCESS_TOKEN_SECONDS = int(sys.argv[4]) if len(sys.argv) > 4 else 5

CLIENT_ID = "tessera"
CLIENT_SECRET = "tessera-dot-secret"

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="tessera-dot-test-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "oauth2_provider",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(STATE_DIR, "dot.sqlite3")}},
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {
                            "registration/login.html": (
                                '<form method="post">{% csrf_token %}{{ form.as_p }}'
                                '<input type="hidden" name="next" value="{{ next }}">'
                                '<button type="submit">Sign in</button></form>'
                            ),
                        },
                    ),
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ],
    LOGIN_URL="/accounts/login/",
    USE_TZ=True,
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # test speed only
    OAUTH2_PROVIDER={
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": pem,
        "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
        "PKCE_REQUIRED": True,
        "ROTATE_REFRESH_TOKEN": True,
        "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_SECONDS,
        "ID_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_SECONDS,
        "SCOPES": {"openid": "OpenID Connect", "profile": "Profile", "email": "Email"},
    },
)
django.setup()

from django.contrib.auth import views as auth_views  # noqa: E402
from django.urls import include, path  # noqa: E402
from oauth2_provider.urls import metadata_urlpatterns  # noqa: E402

urlpatterns = [
    path("o/", include("oauth2_provider.urls")),
    # RFC 8414 §3: the metadata of the issuer http://host/o lives at
    # http://host/.well-known/oauth-authorization-server/o.
    path("", include((metadata_urlpatterns, "dot_metadata"))),
    path("accounts/login/", auth_views.LoginView.as_view()),
]

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)

from django.contrib.auth.models import User  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

if not User.objects.filter(username="alice").exists():
    User.objects.create_user("alice", "alice@example.test", "alice-password")
Application.objects.filter(client_id=CLIENT_ID).delete()
Application.objects.create(
    name="Tessera",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
    redirect_uris=f"{REDIRECT_ORIGIN}/__tessera/callback",
    post_logout_redirect_uris=f"{REDIRECT_ORIGIN}/",
    algorithm=Application.RS256_ALGORITHM,
    skip_authorization=True,
)

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.servers.basehttp import WSGIServer, WSGIRequestHandler  # noqa: E402
import socketserver  # noqa: E402


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


httpd = Server(("127.0.0.1", PORT), Quiet)
httpd.set_app(WSGIHandler())
print("ready", flush=True)
httpd.serve_forever()
