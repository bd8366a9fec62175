"""Hand-written runbook knowledge per KPI: what a fall usually means and what to check first.

The catalogue holds what a KPI is and the seeds' tips to improve it; this holds the
operator's side. A test checks that every catalogue KPI has an entry here.
"""

from __future__ import annotations

from shoppulse.schemas.stores import Vertical

_SH = Vertical.SMART_HOME
_PF = Vertical.PARTY_FAVORS

CAUSES: dict[tuple[Vertical, str], tuple[str, ...]] = {
    (_SH, "aov"): (
        "A discount campaign or coupon that cuts order totals.",
        "A shift of the product mix to cheap accessories, or a bundle taken off sale.",
        "Orders sent with wrong amounts (tax or shipping included or left out, wrong currency).",
    ),
    (_SH, "consultation_conversion"): (
        "Consultations that end without a clear recommendation or cart link.",
        "Recommended devices out of stock or priced above competitors.",
        "Consultation events sent without customer_id, so orders cannot be attributed.",
    ),
    (_SH, "repeat_purchase_retention"): (
        "A wave of first-time customers (a campaign) dilutes the share of repeat buyers.",
        "Poor post-purchase experience: support, delivery or device problems.",
        "Customer ids changing between orders (guest checkout, a new account system).",
    ),
    (_SH, "installation_uptake"): (
        "Installation no longer offered at checkout, or priced up.",
        "No installer capacity in some regions.",
        "Orders sent without their service lines (category `service`).",
    ),
    (_SH, "support_satisfaction"): (
        "Longer response times: staffing or a surge of tickets after a release.",
        "A faulty device or firmware creating repeated, unsolvable tickets.",
        "A change of rating scale in the support tool (ratings no longer 1-5).",
    ),
    (_SH, "content_engagement"): (
        "Content that no longer matches what customers ask about.",
        "Likes, shares or comments switched off or broken on the site.",
        "Views counted twice, or interaction events no longer sent.",
    ),
    (_SH, "cross_sell"): (
        "Related-device recommendations removed or broken on product and cart pages.",
        "Bundles discontinued or out of stock.",
        "Item categories missing in order events, so every order looks single-category.",
    ),
    (_PF, "aov"): (
        "Smaller parties, or a promotion on single items.",
        "Quantity discounts or add-on suggestions removed from checkout.",
        "Orders sent with wrong amounts or currency.",
    ),
    (_PF, "personalization_conversion"): (
        "The design tool is slow, broken on some devices, or its preview fails.",
        "Prices shown only at the end of the design flow.",
        "Tool sessions sent without customer_id or visit_id, so orders cannot be matched.",
    ),
    (_PF, "repeat_customer_rate"): (
        "No reminders before the next occasion; saved designs hard to reorder.",
        "A bad experience on the first order (errors, late delivery).",
        "Customer ids changing between orders.",
    ),
    (_PF, "tool_time_per_visit"): (
        "Traffic from campaigns that land visitors away from the design tool.",
        "The tool fails to load or crashes, ending sessions early.",
        "Tool sessions sent without durations, or visits counted twice.",
    ),
    (_PF, "personalization_error_rate"): (
        "A new operator, machine or supplier in production.",
        "Design validation switched off, or a template with a layout bug.",
        "QC events reporting items checked twice or errors per order instead of per item.",
    ),
    (_PF, "customer_satisfaction"): (
        "Late deliveries or personalisation errors (check those KPIs first).",
        "A change in products, packaging or prices customers dislike.",
        "A change of survey scale or audience (only complaints get the survey).",
    ),
    (_PF, "on_time_delivery"): (
        "A production backlog or a carrier delay.",
        "Promised dates too optimistic for the current load.",
        "Delivery events no longer sent: orders then count as late once their date passes.",
    ),
}

GENERAL_CHECKS: tuple[str, ...] = (
    "Is the store still sending events? Look at the Operations dashboard and at `ShopPulseStoreSilent`.",
    "Are events rejected? A schema change at the source shows up as rejected events by reason.",
    "Are events late or is the consumer lagging? A backlog makes the latest windows look thin.",
    "Did the numerator fall or the denominator grow? The vertical dashboard shows the sample size;"
    " a campaign that doubles traffic lowers a conversion without anything being broken.",
)
