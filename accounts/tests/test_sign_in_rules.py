"""Sign-up and sign-in: one account per mailbox whatever Unicode form or case it is typed in,
a clean refusal for an address too long once normalized, and password guesses limited on
every sign-in, the admin's included."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"

# 142 characters as sent, within the 254 allowed; 272 once lower-cased, for "İ" (U+0130)
# lower-cases to two code points, "i" and a combining dot above.
GROWS_WHEN_LOWERED = "\u0130" * 130 + "@example.com"


def test_an_email_that_grows_when_lower_cased_is_a_400_not_a_500(api_client):
    """RegisterRequestSerializer checks max_length=254 on the address as sent; user_register
    then lower-cases it (accounts.models.normalize_email) and stores 272 characters in a
    varchar(254): PostgreSQL raises DataError, a 500 (SQLite stores the over-long address)."""
    assert len(GROWS_WHEN_LOWERED) <= 254 < len(GROWS_WHEN_LOWERED.lower())
    before = database_state()

    response = api_client.post(REGISTER, {"email": GROWS_WHEN_LOWERED, "password": PASSWORD})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["email"]
    assert database_state() == before


def test_the_sign_up_page_refuses_an_email_that_grows_when_lower_cased(client):
    """The same through the sign-up page (SignUpForm, max_length=254 before lowering)."""
    client.raise_request_exception = False
    before = database_state()

    response = client.post(
        reverse("pages:sign-up"), {"email": GROWS_WHEN_LOWERED, "password": PASSWORD}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert database_state() == before


# Addresses Django's validator takes as typed whose normalized form it refuses: a Turkish
# capital dotted I in the local part (its regex matches "İ" for "i" ignoring case) lowers to
# "i" and a combining dot; an acute accent typed alone in the domain is, once NFKC, a space.
NOT_AN_ADDRESS_ONCE_NORMALIZED = ["\u0130pek@example.com", "user@caf\u00b4.com"]


@pytest.mark.parametrize("email", NOT_AN_ADDRESS_ONCE_NORMALIZED)
def test_an_address_that_normalizes_to_no_valid_address_is_refused(api_client, email):
    """Register stored the normalized form ("i\u0307pek@example.com", "user@caf \u0301.com")
    and answered it: an address the API's own login, the sign-in page and the admin refuse
    as invalid. The customer could sign in only by typing it as first typed, not as shown,
    and staff could save no change to the user on the admin's page ("Enter a valid email
    address." on a field they had not touched)."""
    before = database_state()

    response = api_client.post(REGISTER, {"email": email, "password": PASSWORD})

    assert (response.status_code, list(response.json().get("fields", {}))) == (400, ["email"])
    assert database_state() == before


def test_the_sign_up_page_refuses_an_address_that_normalizes_to_no_valid_address(client):
    before = database_state()

    response = client.post(
        reverse("pages:sign-up"),
        {"email": NOT_AN_ADDRESS_ONCE_NORMALIZED[0], "password": PASSWORD},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    assert database_state() == before


@pytest.mark.parametrize(
    ("taken", "again"),
    [
        ("user@effort.com", "user@e\ufb00ort.com"),  # the "ff" ligature
        ("user@example.com", "user@\uff45xample.com"),  # a fullwidth "e"
        ("user@caf\u00e9.com", "user@cafe\u0301.com"),  # é composed, and e + combining acute
    ],
)
def test_an_address_taken_in_another_unicode_form_is_refused(api_client, taken, again):
    """normalize_email only strips and lower-cases; the unique index is on lower(email). The
    same mailbox spelt in another Unicode form (the domain's IDNA encoding maps all of these
    to the first) is a second account, and looks the same in the admin. Django normalises
    usernames with NFKC (AbstractBaseUser.normalize_username), and this project's admin form
    does, through User.clean(): only the API and the sign-up page do not."""
    UserFactory(email=taken)
    before = database_state()

    response = api_client.post(REGISTER, {"email": again, "password": PASSWORD})

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "email": ["A user with this email address already exists."]
    }
    assert database_state() == before


def test_signing_in_with_the_decomposed_form_of_the_address_finds_the_user(api_client):
    """The user registered "user@café.com" (é composed, as most keyboards type it); the same
    address pasted in decomposed form (NFD, as macOS file names and some mail clients give
    it) is 401 invalid_credentials."""
    UserFactory(email="user@caf\u00e9.com")

    response = api_client.post(LOGIN, {"email": "user@cafe\u0301.com", "password": PASSWORD})

    assert response.status_code == 200


@pytest.mark.parametrize("page", ["/sign-in", "/admin/login/"])
def test_an_over_long_address_at_sign_in_is_never_given_to_idna(client, page, monkeypatch):
    """Both pages count an attempt per address from the form's raw `username`, before the
    form refuses one over 320 characters. Normalizing it gave IDNA the whole domain, whose
    punycode step takes time growing with the square of a label's distinct characters: a
    24 KB form held a worker for 20 s of CPU, a 100 KB one past gunicorn's timeout, at the
    10 attempts a minute a client address may make. IDNA is watched here, and refuses a
    label past 63 characters at once as it would at length."""
    import encodings.idna

    given: list[int] = []
    to_ascii = encodings.idna.ToASCII

    def watched(label: str) -> bytes:
        given.append(len(label))
        if len(label) > 63:
            raise UnicodeError("label too long")
        return to_ascii(label)

    monkeypatch.setattr(encodings.idna, "ToASCII", watched)
    before = database_state()
    username = "a@" + "".join(chr(0x4E00 + n) for n in range(8000))

    response = client.post(page, {"username": username, "password": PASSWORD})

    assert (response.status_code, [length for length in given if length > 320]) == (200, [])
    assert database_state() == before


def test_password_guesses_at_the_admin_sign_in_are_throttled(client, staff_user, monkeypatch):
    """THROTTLE_AUTH limits password guesses per client address on the API's login and the
    sign-in page; /admin/login/ checks the same passwords, of the staff accounts that matter
    most, without any limit."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "2/minute")
    guess = {"username": staff_user.email, "password": "wrong-guess", "next": "/admin/"}
    answers = [client.post("/admin/login/", guess).status_code for _ in range(4)]

    assert answers[2:] == [429, 429]
    assert User.objects.get(pk=staff_user.pk).last_login is None


def test_guesses_at_the_current_password_on_the_admins_password_page_are_throttled(
    client, staff_user, monkeypatch
):
    """The admin's own password page checks the current password, as the account page's form
    does, and had no limit: whoever found a staff member's browser signed in could guess
    that password without end (and keep it once the session ended). Now THROTTLE_AUTH
    counts it per client address, as the account page's form; a refused guess changes
    nothing."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "2/minute")
    client.force_login(staff_user)
    password_before = User.objects.get(pk=staff_user.pk).password
    new = "another-long-password-7"

    def guess(old: str) -> int:
        body = {"old_password": old, "new_password1": new, "new_password2": new}
        return client.post("/admin/password_change/", body).status_code

    answers = [guess(f"wrong-guess-{n}") for n in range(2)] + [guess(PASSWORD)]

    assert answers == [200, 200, 429]
    assert User.objects.get(pk=staff_user.pk).password == password_before


def test_addresses_stored_before_normalization_are_normalized_unless_taken(api_client):
    """Sign-in looks addresses up in their normalized form, so the migration brings stored
    ones to it; one whose normalized form another user has is left for staff."""
    from importlib import import_module

    from django.apps import apps

    decomposed, composed = UserFactory(), UserFactory()
    User.objects.filter(pk=decomposed.pk).update(email="user@cafe\u0301.com")
    User.objects.filter(pk=composed.pk).update(email="other@xn.com")
    clash = UserFactory(email="other@\uff58n.com")  # normalized at creation: other@xn.com
    User.objects.filter(pk=clash.pk).update(email="other@\uff58n.com")

    import_module("accounts.migrations.0003_emails_normalized").normalize(apps, None)
    signed_in = api_client.post(LOGIN, {"email": "user@cafe\u0301.com", "password": PASSWORD})

    assert User.objects.get(pk=decomposed.pk).email == "user@caf\u00e9.com"
    assert User.objects.get(pk=clash.pk).email == "other@\uff58n.com"
    assert signed_in.status_code == 200


SIGN_IN_PATHS = ["api", "page", "admin"]


def sign_in(client, path: str, email: str, password: str, address: str) -> int:
    """One attempt to sign in as `email` at `path`, from the client address `address`."""
    if path == "api":
        body = {"email": email, "password": password}
        return client.post(
            LOGIN, body, content_type="application/json", REMOTE_ADDR=address
        ).status_code
    body = {"username": email, "password": password}
    url = reverse("pages:sign-in") if path == "page" else "/admin/login/"
    return client.post(url, body, REMOTE_ADDR=address).status_code


@pytest.mark.parametrize("last", SIGN_IN_PATHS, ids=SIGN_IN_PATHS)
def test_guesses_at_one_address_count_once_across_the_three_sign_ins(
    client, staff_user, monkeypatch, last
):
    """THROTTLE_AUTH counted per client address, and on each of the API's login, the sign-in
    page and /admin/login/ apart (the two pages shared one count): a guesser with many
    addresses had no limit at all on one account, and one with a single address had the
    rate twice over. Now attempts to sign in as one email address count once, wherever they
    are made and from wherever they come: the fourth of a 3/minute limit is refused, the
    right password too, on every path, as it is when all four go to one path."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    guesses = [
        sign_in(client, path, staff_user.email.upper(), "wrong-guess", f"10.0.0.{n}")
        for n, path in enumerate(SIGN_IN_PATHS, start=1)
    ]
    before = database_state()

    refused = sign_in(client, last, staff_user.email, PASSWORD, "10.0.0.9")
    another = sign_in(client, last, "someone@example.com", "wrong-guess", "10.0.0.10")

    assert guesses == [401, 200, 200]
    assert refused == 429
    assert database_state() == before
    assert User.objects.get(pk=staff_user.pk).last_login is None
    assert another in (401, 200)


@pytest.mark.parametrize("path", SIGN_IN_PATHS, ids=SIGN_IN_PATHS)
def test_guesses_at_one_address_on_one_sign_in_are_limited_alike(
    client, staff_user, monkeypatch, path
):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")

    answers = [
        sign_in(client, path, staff_user.email, "wrong-guess", f"10.0.0.{n}") for n in range(4)
    ]

    assert answers[3] == 429
    assert answers[:3] == [answers[0]] * 3
    assert answers[0] != 429


def test_the_limit_per_client_address_stands(client, monkeypatch):
    """Guesses at many accounts from one client address are limited as before, on the API
    (its own count) and on the pages (theirs)."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")

    api = [sign_in(client, "api", f"u{n}@example.com", "guess", "10.0.1.1") for n in range(4)]
    pages = [
        sign_in(client, path, f"p{n}@example.com", "guess", "10.0.1.1")
        for n, path in enumerate(["page", "admin", "page", "admin"])
    ]

    assert (api[3], pages[3]) == (429, 429)
    assert 429 not in api[:3] + pages[:3]
