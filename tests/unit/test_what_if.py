"""What-if: the same recorded facts judged under a candidate SLA catalogue, worked by hand.

The day is :mod:`tests.what_if_scenario`: urban fault repairs under ``fault-repair-urban``
(arrival 45 min, restoration 3 h, 24x7) against a candidate promising arrival in 30 min and
restoration in 4 h. Every due instant below is receipt + target (+ paused time), by hand.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from projections.what_if import BREACH, LATE, ON_TIME, rows_by_key
from tests.factories import FakeClock, bj, history, make_desk, of_type
from tests.what_if_scenario import candidate, record_day
from workers.what_if import replay_period

OCT_12 = date(2026, 10, 12)


def test_a_shorter_arrival_and_a_longer_restoration_flip_exactly_four_clocks() -> None:
    # Given the day recorded under the live catalogue
    clock = FakeClock()
    desk = make_desk(clock, env={})
    tickets = record_day(desk, clock)
    number = {name: outcome.number for name, outcome in tickets.items()}

    # When Monday's tickets are judged again under the candidate
    run = replay_period(
        desk, candidate(desk.catalogue), OCT_12, OCT_12, bj(2026, 10, 12).tzinfo, clock()
    )

    # Then four tickets of that day were replayed (E, received on the 13th, was not), two
    # clocks each (the callback clock never started: nobody was answered)
    assert run.tickets == 4
    assert {r["number"] for r in run.rows} == {number[t] for t in "ABCD"}
    rows = rows_by_key(run.rows)
    assert len(rows) == 8

    def verdicts(ticket: str, milestone: str) -> tuple[str, str]:
        row = rows[(number[ticket], milestone, 1)]
        return row["verdict"], row["what_if_verdict"]

    # Arrival: live due at receipt + 45 min, candidate at receipt + 30 min.
    #   A received 09:00, arrived 09:40: due 09:45 on time  -> due 09:30 late
    #   B received 10:00, arrived 10:35: due 10:45 on time  -> due 10:30 late
    #   C received 11:00, arrived 11:50: due 11:45 late     -> due 11:30 late
    #   D received 12:00, arrived 12:25: due 12:45 on time  -> due 12:30 on time
    assert verdicts("A", "arrival") == (ON_TIME, LATE)
    assert verdicts("B", "arrival") == (ON_TIME, LATE)
    assert verdicts("C", "arrival") == (LATE, LATE)
    assert verdicts("D", "arrival") == (ON_TIME, ON_TIME)
    assert rows[(number["A"], "arrival", 1)]["due_at"] == bj(2026, 10, 12, 9, 45)
    assert rows[(number["A"], "arrival", 1)]["what_if_due_at"] == bj(2026, 10, 12, 9, 30)
    # Restoration: live due at receipt + 3 h, candidate + 4 h; D's clock paused 13:00-14:00.
    #   A restored 11:00: due 12:00 on time -> due 13:00 on time
    #   B restored 13:30: due 13:00 late    -> due 14:00 on time
    #   C restored 15:30: due 14:00 late    -> due 15:00 late
    #   D restored 16:30: due 12:00+3h+1h = 16:00 late -> 12:00+4h+1h = 17:00 on time
    assert verdicts("A", "restoration") == (ON_TIME, ON_TIME)
    assert verdicts("B", "restoration") == (LATE, ON_TIME)
    assert verdicts("C", "restoration") == (LATE, LATE)
    assert verdicts("D", "restoration") == (LATE, ON_TIME)
    assert rows[(number["D"], "restoration", 1)]["due_at"] == bj(2026, 10, 12, 16, 0)
    assert rows[(number["D"], "restoration", 1)]["what_if_due_at"] == bj(2026, 10, 12, 17, 0)

    # ... the live side is what the desk recorded when each clock was met
    for name in "ABCD":
        for met in of_type(history(desk, tickets[name].id), "SlaTargetMet"):
            row = rows[(number[name], met.milestone, met.cycle)]
            assert (row["verdict"] == ON_TIME) == met.on_time

    # ... exactly these clocks flip
    flips = {(f.number, f.milestone): f.change for f in run.diff.flips}
    assert flips == {
        (number["A"], "arrival"): "on time → breach",
        (number["B"], "arrival"): "on time → breach",
        (number["B"], "restoration"): "breach → on time",
        (number["D"], "restoration"): "breach → on time",
    }
    assert {f.department for f in run.diff.flips if f.after in BREACH} == {"station_1"}

    # ... and the on-time rate per department, over the same eight clocks on both sides:
    #   station_1 before: A arr, A rest, B arr on time; B rest late        = 3/4
    #             after:  A rest, B rest on time; A arr, B arr late        = 2/4
    #   station_2 before: D arr on time; C arr, C rest, D rest late        = 1/4
    #             after:  D arr, D rest on time; C arr, C rest late        = 2/4
    #   TOTAL: 4/8 before, 4/8 after
    rates = {r.department: (r.before, r.after) for r in run.diff.rates}
    assert rates == {
        "station_1": (Fraction(3, 4), Fraction(1, 2)),
        "station_2": (Fraction(1, 4), Fraction(1, 2)),
        "TOTAL": (Fraction(1, 2), Fraction(1, 2)),
    }
    assert [r.department for r in run.diff.rates] == ["station_1", "station_2", "TOTAL"]
    assert run.diff.compared == 8
    assert run.diff.not_compared == {}


def test_the_live_catalogue_as_candidate_flips_nothing() -> None:
    clock = FakeClock()
    desk = make_desk(clock, env={})
    record_day(desk, clock)
    run = replay_period(desk, desk.catalogue, OCT_12, OCT_12, bj(2026, 10, 12).tzinfo, clock())
    assert run.diff.flips == []
    assert all(r.before == r.after for r in run.diff.rates)
