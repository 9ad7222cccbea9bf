"""Pages a payment provider would host; here only the test provider's checkout page."""
