"""Checkouts, signed captures and invoices for the billing scenarios."""

from __future__ import annotations

from datetime import timedelta

from django.core.management import call_command

from catalog.models import TokenBundle


def checkout_catalog(*, bundles: int = 1) -> dict:
    """The demo catalog; the checkout body buys `bundles` of its bundles."""
    import json

    call_command("seed_demo", verbosity=0)
    chosen = TokenBundle.objects.order_by("sort_order").values_list("id", flat=True)[:bundles]
    return {"body": json.dumps({"token_bundle_ids": [str(bundle) for bundle in chosen]})}


def checkout_history(*, per_user: int) -> dict:
    """`per_user` pending checkouts of one bundle for every user, through the service, so
    that checkout is measured over billing tables of some size, analyzed, as autovacuum
    keeps them (analyzed empty, each invoice's foreign keys are checked by sequential scans
    that a server's connections keep while the load adds invoices)."""
    from accounts.models import User
    from billing.services import checkout_create

    bundle = TokenBundle.objects.order_by("sort_order").values_list("id", flat=True).first()
    users = list(User.objects.values_list("id", flat=True))
    for user_id in users:
        for _ in range(per_user):
            checkout_create(user_id=user_id, plan_id=None, token_bundle_ids=[bundle], add_on_ids=[])
    return {"checkouts": per_user * len(users)}


def signed_captures(*, invoices: int, requests_file: str, secret: str) -> dict:
    """`invoices` pending invoices (checkouts of one bundle by 100 users) and, per invoice, a
    signed capture delivery written to `requests_file` as "<body>\\t<signature header>"."""
    import hashlib
    import hmac
    import json
    import time

    from accounts.models import User
    from billing.services import checkout_create

    call_command("seed_demo", verbosity=0)
    bundle = TokenBundle.objects.order_by("sort_order").first()
    users = User.objects.bulk_create(
        User(email=f"buyer{index}@example.com") for index in range(100)
    )
    stamp = str(int(time.time()))
    with open(requests_file, "w") as out:
        for index in range(invoices):
            invoice = checkout_create(
                user_id=users[index % len(users)].pk,
                plan_id=None,
                token_bundle_ids=[bundle.pk],
                add_on_ids=[],
            ).invoice
            body = json.dumps(
                {
                    "event_id": f"evt-{invoice.pk}",
                    "invoice_id": str(invoice.pk),
                    "payment_reference": f"pay-{invoice.pk}",
                    "amount": str(invoice.total),
                    "currency": invoice.currency.code,
                }
            )
            signed = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256)
            out.write(f"{body}\t t={stamp},v1={signed.hexdigest()}\n".replace("\t ", "\t"))
    return {"invoices": invoices}


def webhook_outcomes() -> dict:
    """How the benchmark's deliveries ended, and whether the ledger still adds up."""
    from django.db.models import Count

    from billing.models import Invoice, PaymentEvent
    from tokens.selectors import ledger_check

    outcomes = dict(PaymentEvent.objects.values_list("outcome").annotate(Count("id")))
    paid = Invoice.objects.filter(status=Invoice.Status.PAID).count()
    return {
        "events": outcomes,
        "invoices_paid": paid,
        "accounts_failing_ledger_check": len(list(ledger_check())),
    }


def stale_invoices(*, invoices: int, sessions_file: str) -> dict:
    """`invoices` pending invoices of one bundle each, with Stripe sessions two hours old; a
    third paid at Stripe, a third expired there, a third still open (and younger than the
    72 h expiry). The sessions Stripe would answer are written to `sessions_file` (JSON)."""
    import json
    import uuid

    from django.utils import timezone

    from accounts.models import User
    from billing.models import Invoice, InvoiceLineItem, TokenBundlePurchase

    call_command("seed_demo", verbosity=0)
    bundle = TokenBundle.objects.select_related("currency").order_by("sort_order").first()
    buyers = User.objects.bulk_create(User(email=f"stale{i}@example.com") for i in range(1000))
    started = timezone.now() - timedelta(hours=2)
    rows, lines, purchases, sessions = [], [], [], {}
    for index in range(invoices):
        invoice_id, session_id = uuid.uuid4(), f"cs_bench_{index}"
        buyer = buyers[index % len(buyers)]
        rows.append(
            Invoice(
                id=invoice_id,
                number=f"INV-2000-{index:06d}",
                user=buyer,
                currency=bundle.currency,
                subtotal=bundle.price,
                total=bundle.price,
                stripe_session_id=session_id,
                stripe_session_created_at=started,
            )
        )
        lines.append(
            InvoiceLineItem(
                invoice_id=invoice_id,
                position=1,
                item_type="token_bundle",
                item_id=bundle.id,
                description=bundle.name,
                quantity=1,
                unit_price=bundle.price,
                total_price=bundle.price,
            )
        )
        purchases.append(
            TokenBundlePurchase(
                user=buyer,
                bundle=bundle,
                invoice_id=invoice_id,
                name=bundle.name,
                tokens=bundle.token_amount,
                unit_price=bundle.price,
            )
        )
        state = ("paid", "expired", "open")[index % 3]
        sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "status": {"paid": "complete", "expired": "expired", "open": "open"}[state],
            "payment_status": "paid" if state == "paid" else "unpaid",
            "amount_total": int(bundle.price * 100),
            "currency": bundle.currency.code.lower(),
            "client_reference_id": str(invoice_id),
            "payment_intent": f"pi_bench_{index}" if state == "paid" else None,
            "created": int(started.timestamp()),
            "expires_at": int(started.timestamp()) + 86400,
        }
    Invoice.objects.bulk_create(rows, batch_size=2000)
    InvoiceLineItem.objects.bulk_create(lines, batch_size=2000)
    TokenBundlePurchase.objects.bulk_create(purchases, batch_size=2000)
    with open(sessions_file, "w") as out:
        json.dump(sessions, out)
    return {"invoices": invoices}
