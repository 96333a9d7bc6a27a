"""Creation rules R01, R04-R10: each refusal names its rule, before any quote exists."""

from datetime import UTC, date, datetime

import pytest

from domain.errors import BadInput, Refused
from domain.models import Customer
from domain.quote_rules import QuoteRequest, build_quote
from domain.quotes import QuoteState
from workers.demo_data import ACME, DE_VRIES, SAKURA, demo_data

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)
DATA = demo_data(TODAY)
SUBS = {s.id: s for s in DATA.subscriptions}
CUSTOMERS = {c.csn: c for c in DATA.customers}


def build(*ids: str, csn: str = ACME, **fields):
    request = QuoteRequest(csn=csn, subscription_ids=list(ids), **fields)
    return build_quote("Q-000001", request, CUSTOMERS[csn], [SUBS[i] for i in ids], TODAY, NOW)


def refusal(*ids: str, **fields) -> Refused:
    with pytest.raises(Refused) as caught:
        build(*ids, **fields)
    return caught.value


def test_r05_group_quote_with_exclusion_and_recipients() -> None:
    quote = build(
        "SUB-1001",
        "SUB-1002",
        "SUB-1003",
        exclude=["SUB-1003"],
        recipients=["a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"],
    )
    assert [line.subscription_id for line in quote.lines] == ["SUB-1001", "SUB-1002"]
    assert quote.state is QuoteState.DRAFT and len(quote.all_recipients) == 5


def test_r06_single_subscription_self_service_quote() -> None:
    quote = build("SUB-1001")
    assert quote.origin.value == "self-service" and len(quote.lines) == 1
    assert not quote.holds_auto_renew


def test_r04_fifth_recipient_refused() -> None:
    err = refusal("SUB-1001", recipients=[f"r{i}@acme.example" for i in range(5)])
    assert err.rule == "R04" and "at most 4 extra recipients; 5 given" in err.message


def test_r04_malformed_email_refused() -> None:
    err = refusal("SUB-1001", recipients=["not-an-email"])
    assert (err.rule, err.message) == ("R04", "not an email address: 'not-an-email'")


def test_r07_renewal_lines_do_not_mix_with_new_purchase() -> None:
    err = refusal("SUB-1001", kind="new")
    assert err.rule == "R07"


def test_r08_one_partner_per_quote() -> None:
    err = refusal("SUB-2001", "SUB-2003", csn=DE_VRIES)
    assert err.rule == "R08" and "5200000001, 5200000002" in err.message


def test_r08_direct_and_partner_do_not_mix() -> None:
    assert refusal("SUB-1001", "SUB-1008").rule == "R08"


def test_r09_one_currency_per_quote() -> None:
    err = refusal("SUB-3001", "SUB-3003", csn=SAKURA)
    assert err.rule == "R09" and "EUR, JPY" in err.message


def test_r09_one_customer_per_quote() -> None:
    err = refusal("SUB-1001", "SUB-2004")
    assert err.rule == "R09" and "SUB-2004 belongs to customer 5100000002" in err.message


def test_r01_outside_window_refused_with_date() -> None:
    err = refusal("SUB-1004")
    assert err.rule == "R01" and "window opens" in err.message


def test_r10_adding_seats_refused_in_self_service() -> None:
    err = refusal("SUB-1001", seats={"SUB-1001": 6})
    assert err.rule == "R10" and "5 → 6" in err.message


def test_r10_partner_and_sales_may_add_seats() -> None:
    assert build("SUB-1001", seats={"SUB-1001": 8}, origin="sales").lines[0].seats == 8
    assert build("SUB-1008", seats={"SUB-1008": 4}, origin="partner").lines[0].seats == 4


def test_r10_self_service_may_lower_seats_and_change_term() -> None:
    quote = build("SUB-1002", seats={"SUB-1002": 2}, terms={"SUB-1002": "3-year"})
    assert (quote.lines[0].seats, quote.lines[0].term.value) == (2, "3-year")
    assert quote.holds_auto_renew


def test_r10_success_plan_refused_in_self_service() -> None:
    err = refusal("SUB-1006")
    assert err.rule == "R10" and "success plans" in err.message
    assert build("SUB-1006", origin="sales").lines[0].subscription_id == "SUB-1006"


def test_r10_value_based_refused_in_self_service() -> None:
    assert refusal("SUB-2004", csn=DE_VRIES).rule == "R10"


def test_r10_currency_change_refused() -> None:
    err = refusal("SUB-1001", currency="USD")
    assert err.rule == "R10" and "EUR → USD" in err.message


def test_r10_future_start_date_refused() -> None:
    err = refusal("SUB-1001", start_date=date(2027, 3, 1))
    assert err.rule == "R10" and "day after the current end date" in err.message


def test_r10_start_the_day_after_end_is_accepted() -> None:
    start = SUBS["SUB-1001"].end_date.fromordinal(SUBS["SUB-1001"].end_date.toordinal() + 1)
    assert build("SUB-1001", start_date=start).lines


def test_r10_new_credit_line_refused() -> None:
    assert refusal("SUB-1001", new_credit_line=True).rule == "R10"


def test_r02_pause_auto_renew_requested_holds_unchanged_quote() -> None:
    assert build("SUB-1001", pause_auto_renew=True).holds_auto_renew


def test_excluding_every_line_is_bad_input() -> None:
    with pytest.raises(BadInput, match="every line is excluded"):
        build("SUB-1001", exclude=["SUB-1001"])


def test_seats_for_subscription_not_on_quote_is_bad_input() -> None:
    with pytest.raises(BadInput, match="SUB-1002 is not on this quote"):
        build("SUB-1001", seats={"SUB-1002": 1})


def test_customer_of_another_csn() -> None:
    request = QuoteRequest(csn=ACME, subscription_ids=["SUB-1001"])
    with pytest.raises(BadInput):
        build_quote(
            "Q-1", request, Customer.model_validate(CUSTOMERS[SAKURA].model_dump()), [SUBS["SUB-1001"]], TODAY, NOW
        )


def test_r04_buyer_listed_again_in_any_case_gets_one_email() -> None:
    quote = build("SUB-1001", recipients=["BUYER@acme.example", "cfo@acme.example"])
    assert quote.all_recipients == ["buyer@acme.example", "cfo@acme.example"]
    with pytest.raises(Refused) as refused:
        build("SUB-1001", recipients=["cfo@acme.example", "CFO@Acme.example"])
    assert refused.value.rule == "R04"


def test_r13_a_quote_is_written_in_its_customers_language() -> None:
    dutch = CUSTOMERS[ACME].model_copy(update={"language": "nl"})
    request = QuoteRequest(csn=ACME, subscription_ids=["SUB-1001"])
    assert build_quote("Q-000001", request, dutch, [SUBS["SUB-1001"]], TODAY, NOW).language == "nl"
