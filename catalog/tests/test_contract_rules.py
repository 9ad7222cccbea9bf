"""The staff catalog API as the contract has it: read-only fields on create are ignored,
and `name` is 1..255 characters after trimming."""

import pytest

from catalog.models import TokenBundle

pytestmark = pytest.mark.django_db

BUNDLES = "/api/v1/admin/token-bundles"


def test_a_name_of_255_characters_after_trimming_is_accepted(staff_client):
    """Contract, Admin API: "Validation: `name` 1..255 after trimming". The length is counted
    before trimming: 255 characters with surrounding spaces are a 400."""
    name = "a" * 255

    response = staff_client.post(
        BUNDLES, {"name": f"  {name}  ", "price": "5.00", "token_amount": 10}
    )

    assert response.status_code == 201, response.json()
    assert response.json()["name"] == name


@pytest.mark.parametrize("version", [0, "7", None, 1.5])
def test_a_read_only_version_on_create_is_ignored(staff_client, version):
    """Contract, Admin API (POST): "Unknown and read-only fields (`id`, `created_at`,
    `version`, ...) are ignored." `id` and `created_at` are; `version` is validated as if it
    were input, so a client echoing an object it read (or any other value) gets a 400."""
    response = staff_client.post(
        BUNDLES, {"name": "Starter", "price": "5.00", "token_amount": 10, "version": version}
    )

    assert response.status_code == 201, response.json()
    assert response.json()["version"] == 1
    assert TokenBundle.objects.count() == 1
