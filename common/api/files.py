"""Views whose 200 is a file they write themselves (a receipt's PDF, a CSV export) for a client
that asks for that file's media type, while every other answer is JSON in the contract's shape
whatever the client accepted."""

from __future__ import annotations

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.schema import ErrorsInJsonSchema


class FileRenderer(BaseRenderer):
    """Lets a client ask for a file's media type (a subclass names it); the view answers the
    bytes itself."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data


# `renderer_classes` names JSON and the file's renderer; an error (or any other answer DRF
# renders) is JSON even when the client asked for the file. A comment, not a docstring:
# drf-spectacular would describe every such operation with it.
class AnswersAFile(APIView):
    schema = ErrorsInJsonSchema()

    def finalize_response(self, request: Request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
