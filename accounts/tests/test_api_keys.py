"""Service API keys: shown once, stored as a hash, allowed only where services may go."""

import hashlib

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from common.tests.helpers import database_state
from conftest import service_client
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/admin/api-keys"


def test_staff_create_a_key_whose_secret_is_shown_once_and_stored_as_a_hash(staff_client):
    created = staff_client.post(KEYS, {"name": "render farm"})

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("tbk_")
    assert len(body["secret"]) > 40
    assert body["prefix"] == body["secret"][:12]
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.secret_hash == hashlib.sha256(body["secret"].encode()).hexdigest()
    assert body["secret"] not in str(database_state())
    listed = staff_client.get(KEYS).json()
    assert listed["total"] == 1
    assert "secret" not in listed["items"][0]


def test_the_staff_list_loads_only_the_keys_of_its_page(staff_client, monkeypatch):
    """The list loaded every key to answer one page (50,000 keys: about 2.7 s a page); it is
    paged in the database, newest first, and equal times by id so pages neither repeat nor
    skip a key."""
    now = timezone.now()
    ApiKey.objects.bulk_create(
        ApiKey(name=f"key {n}", prefix=f"tbk_{n:08d}", secret_hash=f"{n:064x}", created_at=now)
        for n in range(30)
    )
    loaded = []
    from_db = ApiKey.from_db.__func__
    monkeypatch.setattr(
        ApiKey, "from_db", classmethod(lambda cls, *a: loaded.append(1) or from_db(cls, *a))
    )

    pages = [staff_client.get(KEYS, {"page": n, "per_page": 10}).json() for n in (1, 2, 3)]

    assert len(loaded) == 30
    assert [page["total"] for page in pages] == [30, 30, 30]
    listed = [item["id"] for page in pages for item in page["items"]]
    assert listed == sorted((str(key.pk) for key in ApiKey.objects.all()), reverse=True)


def test_a_new_keys_answer_is_kept_by_no_cache(staff_client):
    """A browser's or a proxy's cache kept the key's secret, shown once."""
    made = staff_client.post(KEYS, {"name": "render farm"}, HTTP_IDEMPOTENCY_KEY="k1")
    replayed = staff_client.post(KEYS, {"name": "render farm"}, HTTP_IDEMPOTENCY_KEY="k1")

    assert [answer.status_code for answer in (made, replayed)] == [201, 201]
    assert ["no-store" in answer.get("Cache-Control", "") for answer in (made, replayed)] == [
        True,
        True,
    ]


def test_a_key_works_for_usage_and_records_when_it_was_used(api_key, service, user):
    fund(user, 5)

    response = service.post(
        f"/api/v1/users/{user.pk}/usage", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 201
    assert ApiKey.objects.get(pk=api_key.key.pk).last_used_at is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/user/tokens/balance"),
        ("post", "/api/v1/user/tokens/consume"),
        ("get", "/api/v1/admin/invoices"),
        ("get", "/api/v1/auth/me"),
        ("get", KEYS),
    ],
)
def test_a_key_may_call_nothing_but_usage_and_holds(service, method, path):
    before = database_state()

    response = getattr(service, method)(path)

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert database_state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/user/tokens/balance"),
        ("post", "/api/v1/user/tokens/consume"),
        ("get", "/api/v1/auth/me"),
        ("get", KEYS),
    ],
)
def test_an_unknown_or_revoked_key_is_401_everywhere_not_a_missing_power(
    staff_client, api_key, service, method, path
):
    """A seller whose key was revoked was told 403 `permission_denied` outside the usage and
    hold endpoints, and went looking for a power the key never needed; the contract says an
    unknown or revoked key is 401."""
    staff_client.delete(f"{KEYS}/{api_key.key.pk}")
    before = database_state()

    answers = [getattr(caller, method)(path) for caller in (service, service_client("tbk_unknown"))]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (401, "not_authenticated"),
        (401, "not_authenticated"),
    ]
    assert database_state() == before


def test_a_key_refused_outside_its_endpoints_is_not_marked_used(api_key, service):
    before = database_state()

    response = service.get("/api/v1/user/tokens/balance")

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=api_key.key.pk).last_used_at is None
    assert database_state() == before


def test_a_revoked_key_is_refused_on_its_next_request(staff_client, api_key, service, user):
    url = f"/api/v1/users/{user.pk}/holds"
    assert service.get(url).status_code == 200

    revoked = staff_client.delete(f"{KEYS}/{api_key.key.pk}")
    refused = service.get(url)

    assert revoked.status_code == 204
    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")


@pytest.mark.parametrize("secret", ["tbk_unknown", "tbk_" + "x" * 200])
def test_an_unknown_key_is_401_and_never_echoed(user, secret):
    response = service_client(secret).get(f"/api/v1/users/{user.pk}/holds")

    assert response.status_code == 401
    assert secret not in response.content.decode()


def test_users_cannot_manage_keys(user_client):
    before = database_state()

    responses = [user_client.get(KEYS), user_client.post(KEYS, {"name": "mine"})]

    assert [r.status_code for r in responses] == [403, 403]
    assert database_state() == before


# A zero-width space, a soft hyphen, a byte order mark, a word joiner: nothing to see.
INVISIBLE_ONLY = "\u200b\u00ad \ufeff\u2060"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": INVISIBLE_ONLY}])
def test_a_key_needs_a_name(staff_client, body):
    before = database_state()

    response = staff_client.post(KEYS, body)

    assert (response.status_code, list(response.json()["fields"])) == (400, ["name"])
    assert database_state() == before


def test_revoking_an_unknown_key_is_404(staff_client):
    response = staff_client.delete(f"{KEYS}/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_the_admin_shows_a_new_secret_once(staff_browser):
    response = staff_browser.post("/admin/accounts/apikey/add/", {"name": "ci"})

    key = ApiKey.objects.get()
    page = response.content.decode()
    assert key.prefix in page
    assert "Copy its secret now" in page
    listing = staff_browser.get("/admin/accounts/apikey/").content.decode()
    assert key.prefix in listing


def test_a_name_is_trimmed_of_invisible_characters_too(staff_client):
    """The key list showed an empty-looking name: trimming took whitespace only."""
    response = staff_client.post(KEYS, {"name": "\u200b render farm\u00ad "})

    assert response.status_code == 201
    assert response.json()["name"] == ApiKey.objects.get().name == "render farm"


def test_the_admin_refuses_a_name_of_invisible_characters_beside_the_field(staff_browser):
    """The form took it (Django trims whitespace only) and the service refused it: a 500."""
    before = database_state()

    response = staff_browser.post("/admin/accounts/apikey/add/", {"name": INVISIBLE_ONLY})

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["name"]
    assert database_state() == before


def test_the_admin_counts_a_names_length_after_trimming_as_the_api_does(staff_browser):
    """A name of 100 characters pasted with a zero-width space at its end: the API takes it,
    trimmed; the admin counted the invisible character and refused it as too long."""
    name = "k" * 100

    response = staff_browser.post("/admin/accounts/apikey/add/", {"name": name + "\u200b"})

    assert list(ApiKey.objects.values_list("name", flat=True)) == [name]
    assert response.context["secret"].startswith("tbk_")


def test_the_admin_revoking_a_key_revoked_already_says_nothing_was_done(
    staff_browser, staff_user, api_key
):
    """A second tab, or another staff member first: the list said "Revoked 1 key(s)." again,
    though nothing was done and the History names whoever revoked it first."""
    selected = {"action": "revoke", "_selected_action": [api_key.key.pk]}
    first = staff_browser.post("/admin/accounts/apikey/", selected, follow=True)
    before = database_state()

    again = staff_browser.post("/admin/accounts/apikey/", selected, follow=True)

    assert "Revoked 1 key(s)." in first.content.decode()
    page = again.content.decode()
    assert "Revoked 1 key(s)." not in page
    assert "1 selected key was revoked already: nothing was done." in page
    assert database_state() == before
