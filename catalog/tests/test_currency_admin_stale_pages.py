"""A currency's admin page saved after someone else changed the currency since it was
opened writes nothing (the currency has no version: the form carries a digest of what the
page showed, as the user admin's does)."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog.models import Currency
from catalog.tests.factories import DefaultCurrencyFactory
from common.tests.helpers import admin_form_as_sent, database_state

pytestmark = pytest.mark.django_db


def test_a_page_opened_before_a_symbol_change_does_not_put_the_old_symbol_back(staff_browser):
    """Staff open USD at "$"; a colleague sets "US$" (the seller sells in Canada too); staff,
    still on the page, save it. The page sent "$" as it showed it, and Django compares with
    the currency as it is when the save arrives: "$" looked like a change and was written
    back on every price shown."""
    currency = DefaultCurrencyFactory()
    change_url = reverse("admin:catalog_currency_change", args=[currency.pk])
    page = staff_browser.get(change_url)
    Currency.objects.filter(pk=currency.pk).update(symbol="US$")
    state = database_state()

    response = staff_browser.post(change_url, admin_form_as_sent(page))

    assert Currency.objects.get(pk=currency.pk).symbol == "US$"
    assert database_state() == state
    assert (response.status_code, response["Location"]) == (302, change_url)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Nothing was saved: USD was changed by someone else since you opened the page. "
        "The page shows it as it is now; make your change again."
    ]


def test_a_currency_page_opened_at_its_current_state_saves(staff_browser):
    currency = DefaultCurrencyFactory()
    change_url = reverse("admin:catalog_currency_change", args=[currency.pk])
    page = staff_browser.get(change_url)

    response = staff_browser.post(change_url, {**admin_form_as_sent(page), "symbol": "US$"})

    assert response.status_code == 302
    assert Currency.objects.get(pk=currency.pk).symbol == "US$"
