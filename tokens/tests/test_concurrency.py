"""The ledger under real concurrency: threads with their own connections, started together."""

import random
import time

import pytest

from accounts.tests.factories import UserFactory
from common.tests.concurrency import run_together
from conftest import client_for
from tokens import selectors, services
from tokens.models import TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.through_pgbouncer,
    pytest.mark.sqlite,
]

WORKERS = 8


def entries_of(user):
    return TokenTransaction.objects.filter(account__user=user)


def test_the_harness_is_really_concurrent_a_naive_read_modify_save_loses_updates():
    """Control: the same harness breaks code that is not safe, so the tests below could fail."""
    user = UserFactory()
    fund(user, 1)

    def naive_increment():
        account = TokenAccount.objects.get(user=user)
        time.sleep(0.005)
        account.balance += 1
        account.save(update_fields=["balance"])

    run_together([naive_increment] * 80, workers=WORKERS)

    assert TokenAccount.objects.get(user=user).balance < 81


def test_200_consumes_against_a_balance_of_50_exactly_50_succeed():
    user = UserFactory()
    fund(user, 50)
    clients = [client_for(user) for _ in range(WORKERS)]

    def consume(index):
        return lambda: clients[index % WORKERS].post(
            "/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY=f"job-{index}"
        )

    responses = run_together([consume(index) for index in range(200)], workers=WORKERS)

    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 50
    assert statuses.count(402) == 150
    assert TokenAccount.objects.get(user=user).balance == 0
    usages = entries_of(user).filter(transaction_type="usage")
    assert sorted(usages.values_list("balance_after", flat=True)) == list(range(50))
    assert list(selectors.ledger_check()) == []


def test_400_concurrent_credits_of_one_all_count():
    user = UserFactory()

    def credit():
        return services.tokens_credit(user_id=user.pk, amount=1, transaction_type="adjustment")

    results = run_together([credit] * 400, workers=WORKERS)

    assert not [result for result in results if isinstance(result, Exception)]
    assert TokenAccount.objects.get(user=user).balance == 400
    balances = sorted(entries_of(user).values_list("balance_after", flat=True))
    assert balances == list(range(1, 401))
    numbers = sorted(entries_of(user).values_list("number", flat=True))
    assert numbers == list(range(1, 401))


def test_mixed_credits_and_debits_of_random_sizes_keep_the_invariant():
    user = UserFactory()
    fund(user, 100)
    generator = random.Random(20261123)

    def operation():
        amount = generator.randint(1, 40)
        if generator.random() < 0.5:
            return lambda: services.tokens_credit(
                user_id=user.pk, amount=amount, transaction_type="adjustment"
            )
        return lambda: services.tokens_debit(user_id=user.pk, amount=amount)

    results = run_together([operation() for _ in range(240)], workers=WORKERS)

    unexpected = [
        result
        for result in results
        if isinstance(result, Exception) and not isinstance(result, services.InsufficientTokens)
    ]
    assert unexpected == []
    assert entries_of(user).filter(balance_after__lt=0).count() == 0
    assert entries_of(user).count() == 1 + sum(
        1 for result in results if isinstance(result, TokenTransaction)
    )
    assert list(selectors.ledger_check()) == []


def test_the_same_idempotency_key_from_10_workers_makes_one_entry():
    user = UserFactory()
    fund(user, 100)
    clients = [client_for(user) for _ in range(10)]

    def consume(client):
        return lambda: client.post(
            "/api/v1/user/tokens/consume", {"amount": 7}, HTTP_IDEMPOTENCY_KEY="one-job"
        )

    responses = run_together([consume(client) for client in clients], workers=10)

    assert {response.status_code for response in responses} <= {201, 409}
    created = [response.json() for response in responses if response.status_code == 201]
    assert created
    assert all(body == created[0] for body in created)
    assert entries_of(user).filter(transaction_type="usage").count() == 1
    assert TokenAccount.objects.get(user=user).balance == 93


def test_the_same_ledger_key_from_10_workers_makes_one_entry():
    user = UserFactory()
    fund(user, 100)

    def debit():
        return services.tokens_debit(user_id=user.pk, amount=7, idempotency_key="svc-key")

    results = run_together([debit] * 10, workers=10)

    assert {result.pk for result in results} == {results[0].pk}
    assert TokenAccount.objects.get(user=user).balance == 93


def test_concurrent_refunds_of_one_usage_give_back_once():
    user = UserFactory()
    fund(user, 10)
    usage = services.tokens_debit(user_id=user.pk, amount=4)

    def refund():
        return services.usage_refund(transaction_id=usage.pk, actor_id=None)

    results = run_together([refund] * 8, workers=WORKERS)

    assert sum(isinstance(result, TokenTransaction) for result in results) == 1
    assert sum(isinstance(result, services.UsageAlreadyRefunded) for result in results) == 7
    assert TokenAccount.objects.get(user=user).balance == 10


def test_one_grant_key_from_10_staff_requests_with_two_reasons_makes_one_grant():
    """Ten requests of one staff member share a key, half with another reason: one grant is
    made, its own body's requests answer it, the others are 422 and make nothing."""
    user, staff = UserFactory(), UserFactory(is_staff=True)
    clients = [client_for(staff) for _ in range(10)]

    def grant(client, reason):
        return lambda: client.post(
            f"/api/v1/admin/users/{user.pk}/tokens/grants",
            {"amount": 50, "reason": reason},
            format="json",
            HTTP_IDEMPOTENCY_KEY="gift-1",
        )

    calls = [grant(client, ("launch gift", "outage")[i % 2]) for i, client in enumerate(clients)]

    responses = run_together(calls, workers=10)

    granted = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json()["code"] for r in responses if r.status_code != 201]
    assert len(granted) == 5
    assert all(body == granted[0] for body in granted)
    assert refused == ["idempotency_key_reused"] * 5
    grants = entries_of(user).filter(transaction_type="grant", created_by=staff)
    assert list(grants.values_list("amount", flat=True)) == [50]
    assert list(selectors.ledger_check()) == []
