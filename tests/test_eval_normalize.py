"""The eval's answer matching on its own tricky cases."""

import pytest

from evals.normalize import fold, matches, quantities


@pytest.mark.parametrize(
    ("gold", "text"),
    [
        ("1,043,460", "Peru is home to 1043460 Venezuelans"),
        ("1.5 million", "more than 1,500,000 have arrived"),
        ("1,500,000", "more than 1.5 million have arrived"),
        ("60", "for sixty days"),
        ("60 days", "a 60-day state of emergency"),
        ("700%", "irregular migration rose 700 percent"),
        ("700%", "rose 700 per cent"),
        ("a hundred", "nearly a hundred troops"),
        ("100", "nearly a hundred troops"),
        ("1,280 kilometers", "1,280 km north of Lima"),
        ("two months", "for two months"),
        ("three", "patrolling in three shifts"),
        ("November 29", "starting on 29 Nov. in Tacna"),
        ("November 29", "from Nov 29, 2025"),
        ("March 2020", "In March 2020, the border was closed"),
        ("Dec. 1", "on December 1, ministers met"),
        ("January 26, 2021", "January 26, 2021"),
        ("2023", "In April 2023 the region"),
        ("Jerí", "President José Jeri said"),
        ("de Zela", "his counterpart, Hugo De Zela."),
        ("May", "in early May, more than 100 returned"),
        ("December 1", "SANTIAGO, Chile, Dec. 1 (UPI)"),
        ("2015", "Since 2015, the mobilization"),
        ("Theresa May", "Theresa May said"),  # a month inside a name is still text
        ("three", "in three shifts [3]"),
    ],
)
def test_accepted(gold: str, text: str) -> None:
    assert matches(gold, text)


@pytest.mark.parametrize(
    ("gold", "text"),
    [
        ("60 days", "60 kilometers"),
        ("700%", "700 times"),
        ("1.5 million", "1.5 billion"),
        ("11", "1,100 people"),
        ("11", "Covid-19 and 111 crossings"),
        ("March 2020", "March 2021"),
        ("November 29", "in late November"),  # the gold names a day; November alone does not
        ("January 26, 2021", "January 26, 2020"),
        ("Kast", "Kastner"),
        ("30", "300 meters"),
        ("May", "migrants who may leave Chile"),  # the verb, not the month
        ("March 2020", "they march in 2020"),  # a date gold is not the number 2020
        ("2020", "1,043,460 in 2021"),
        ("three", "It lasts 60 days. [3]"),  # citation markers state nothing
        ("1", "Kast, the favourite [1]"),
    ],
)
def test_rejected(gold: str, text: str) -> None:
    assert not matches(gold, text)


def test_quantities_read_values_and_units() -> None:
    found = quantities("1.5 million Venezuelans, sixty days, 700% and a hundred troops")
    values = [(q.value, q.percent, q.unit) for q in found]
    assert values == [
        (1_500_000, False, "venezuelans"),
        (60, False, "days"),
        (700, True, "and"),
        (100, False, "troops"),
    ]


def test_fold() -> None:
    assert fold("  Jerí’s  “60-day”, 1,043,460. ") == "jeri s 60 day 1,043,460"
