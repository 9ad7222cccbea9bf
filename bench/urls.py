"""The service's routes plus the floor endpoints the benchmarks compare against."""

from django.urls import include, path

from bench.floor import FloorDebitView

urlpatterns = [
    path("bench/floor-debit", FloorDebitView.as_view()),
    path("", include("config.urls")),
]
