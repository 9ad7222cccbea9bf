"""What this package's pay, cancel and mark-paid test modules share."""


def pay(client, invoice, body=None):
    payload = {"provider": "stripe"} if body is None else body
    return client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", payload)


def stripe_says(api_client, fake_stripe, event) -> str:
    body, signature = fake_stripe.signed(event)
    answer = api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    return answer.json()["outcome"]
