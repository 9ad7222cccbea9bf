"""Domain errors: what a service refuses, with the code and HTTP status the API answers."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a caller can act on. The API renders it as `{"error", "code"}`."""

    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."
    # An Idempotency-Key's record keeps refusals too; one about what the request's path
    # names (a user who does not exist) answers no key and is not kept.
    answers_key = True
    # A 401's challenge, which the API sends as `WWW-Authenticate` (RFC 7235 requires one).
    auth_header: str | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)

    def details(self) -> dict:
        """Facts the API adds to the error body beside `error` and `code` (none by default)."""
        return {}


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class NoSuchSubject(NotFound):
    """The path names something that does not exist: the request asked nothing of a key."""

    answers_key = False


class InvalidState(DomainError):
    code = "invalid_state"
    default_message = "The object is not in a state that allows this."


class Rejected(DomainError):
    """Well-formed input that contradicts what it refers to (a payment for another amount
    than the invoice's, a signature that does not match): refused for good, so a sender that
    retries gets the same answer."""

    code = "rejected"
    http_status = 400
    default_message = "The request contradicts what it refers to."


class Invalid(DomainError):
    """Input that is well-formed but refused by a business rule, named by field."""

    code = "validation_error"
    http_status = 400
    # A 400 naming a field is not an answer an Idempotency-Key keeps, whichever check found
    # it: the client corrects the body and sends it again with the same key (docs/api.md).
    answers_key = False

    def __init__(self, field: str, message: str, *more: str) -> None:
        """`more`: further messages about the same field, each its own in the API's
        `fields`; `message` joins them all for a page's form."""
        super().__init__(" ".join((message, *more)))
        self.field = field
        self.messages = [message, *more]

    @property
    def fields(self) -> dict[str, list[str]]:
        """The API's `fields`: each field refused, with its messages."""
        return {self.field: self.messages}


class InvalidFields(Invalid):
    """Several fields refused at once, so the sender can correct them all in one go; `field`
    and `messages` are the first one's, for callers that show one."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        field, messages = next(iter(fields.items()))
        super().__init__(field, *messages)
        self._fields = fields

    @property
    def fields(self) -> dict[str, list[str]]:
        return self._fields
