"""The aggregation of rankings, against published worked examples and an independent implementation."""

from fractions import Fraction

from services.surveys.aggregation import aggregate, positions

ITEMS = ["A", "B", "C", "D", "E"]


def profile(*groups):
    """Ballots from ``(count, "ACBED")`` pairs: each letter an item, most useful first."""
    return [list(order) for count, order in groups for _ in range(count)]


# Markus Schulze's own example of 45 voters (Schulze 2011, and the method's Wikipedia article).
SCHULZE_45 = profile((5, "ACBED"), (5, "ADECB"), (8, "BEDAC"), (3, "CABED"), (7, "CAEBD"), (2, "CBADE"),
                     (7, "DCEBA"), (8, "EBADC"))


def test_schulzes_45_voter_example_orders_e_a_c_b_d_with_the_published_strongest_paths():
    result = aggregate(SCHULZE_45, ITEMS)
    assert result["schulze"]["order"] == [["E"], ["A"], ["C"], ["B"], ["D"]]
    published = {
        "A": {"B": 28, "C": 28, "D": 30, "E": 24},
        "B": {"A": 25, "C": 28, "D": 33, "E": 24},
        "C": {"A": 25, "B": 29, "D": 29, "E": 24},
        "D": {"A": 25, "B": 28, "C": 28, "E": 24},
        "E": {"A": 25, "B": 28, "C": 28, "D": 31},
    }
    assert result["schulze"]["strongest_paths"] == published
    assert result["schulze"]["pairwise"]["A"]["B"] == 20 and result["schulze"]["pairwise"]["B"]["A"] == 25


def test_schulzes_45_voter_example_has_no_condorcet_winner():
    assert aggregate(SCHULZE_45, ITEMS)["condorcet_winner"] is None


def test_the_tennessee_capital_example_has_nashville_as_condorcet_winner_and_its_published_borda_counts():
    # The example of the Wikipedia articles on Condorcet and Borda: M(emphis), N(ashville), C(hattanooga),
    # K(noxville); 42, 26, 15 and 17 voters of 100.
    ballots = profile((42, "MNCK"), (26, "NCKM"), (15, "CKNM"), (17, "KCNM"))
    result = aggregate(ballots, list("MNCK"))
    assert result["condorcet_winner"] == "N"
    assert result["schulze"]["order"] == [["N"], ["C"], ["K"], ["M"]]
    assert result["borda"]["scores"] == {"M": 126, "N": 194, "C": 173, "K": 107}
    assert result["borda"]["order"] == [["N"], ["C"], ["M"], ["K"]]
    assert result["ties"] == []


def test_borda_gives_n_minus_one_points_down_to_zero_and_mean_rank_the_average_place():
    result = aggregate(profile((2, "ABC"), (1, "CBA")), ["A", "B", "C"])
    assert result["borda"]["scores"] == {"A": 4, "B": 3, "C": 2}
    assert result["mean_rank"]["scores"] == {"A": round(5 / 3, 6), "B": 2, "C": round(7 / 3, 6)}
    assert result["borda"]["order"] == [["A"], ["B"], ["C"]]


def test_a_tie_is_stated_as_a_tie_in_every_method():
    result = aggregate(profile((1, "ABC"), (1, "BAC")), ["A", "B", "C"])
    assert result["borda"]["order"] == [["A", "B"], ["C"]]
    assert result["mean_rank"]["order"] == [["A", "B"], ["C"]]
    assert result["schulze"]["order"] == [["A", "B"], ["C"]]
    assert result["condorcet_winner"] is None
    assert {"method": "borda", "items": ["A", "B"]} in result["ties"]
    assert {"method": "schulze", "items": ["A", "B"]} in result["ties"]
    assert {"method": "mean_rank", "items": ["A", "B"]} in result["ties"]


def test_unranked_items_tie_below_the_ranked_ones_sharing_the_places_left():
    assert positions(["B"], ["A", "B", "C", "D"]) == {"A": 3, "B": 1, "C": 3, "D": 3}
    result = aggregate([["B"]], ["A", "B", "C", "D"])
    assert result["borda"]["scores"] == {"A": 1, "B": 3, "C": 1, "D": 1}  # 2 + 1 + 0 shared by three
    assert result["borda"]["order"] == [["B"], ["A", "C", "D"]]
    assert result["schulze"]["order"] == [["B"], ["A", "C", "D"]]
    assert result["schulze"]["pairwise"]["A"]["C"] == 0 and result["schulze"]["pairwise"]["B"]["A"] == 1
    assert result["condorcet_winner"] == "B"


def test_a_partial_ballot_gives_as_many_borda_points_as_a_full_one():
    items = list("ABCDEF")
    points = aggregate([["C", "A"]], items)["borda"]["scores"]
    assert sum(points.values()) == sum(range(len(items)))
    assert points["C"] == 5 and points["A"] == 4 and points["B"] == Fraction(3 + 2 + 1 + 0, 4)


def test_no_ballots_leave_every_item_tied_and_no_winner():
    result = aggregate([], ["A", "B"])
    assert result["ballots"] == 0
    assert result["borda"]["order"] == [["A", "B"]]
    assert result["condorcet_winner"] is None
