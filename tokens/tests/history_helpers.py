"""The history endpoint's address, shared by the test_api_history_* modules."""

import csv
import io

HISTORY = "/api/v1/user/tokens/transactions"


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))
