"""Tokens' API: the user's balance, history, lots, usage and holds; services' usage and holds
for any user; staff corrections."""

from tokens.api.views.alerts import AlertsView
from tokens.api.views.holds import (
    HoldCaptureView,
    HoldReleaseView,
    HoldsView,
    HoldView,
    ServiceHoldCaptureView,
    ServiceHoldReleaseView,
    ServiceHoldsView,
    ServiceHoldView,
)
from tokens.api.views.ledger import BalanceView, ConsumeView, EntryView, HistoryView, LotListView
from tokens.api.views.staff import (
    StaffAdjustView,
    StaffGrantView,
    StaffLotVoidView,
    StaffUsageRefundView,
)
from tokens.api.views.usage import (
    ServiceUsageRefundView,
    ServiceUsageView,
    UsageDetailView,
    UsageView,
)

__all__ = [
    "AlertsView",
    "BalanceView",
    "ConsumeView",
    "EntryView",
    "HistoryView",
    "HoldCaptureView",
    "HoldReleaseView",
    "HoldView",
    "HoldsView",
    "LotListView",
    "ServiceHoldCaptureView",
    "ServiceHoldReleaseView",
    "ServiceHoldView",
    "ServiceHoldsView",
    "ServiceUsageRefundView",
    "ServiceUsageView",
    "StaffAdjustView",
    "StaffGrantView",
    "StaffLotVoidView",
    "StaffUsageRefundView",
    "UsageDetailView",
    "UsageView",
]
