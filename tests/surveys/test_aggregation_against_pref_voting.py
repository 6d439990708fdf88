"""The aggregation on random profiles, full and partial, against pref_voting (a test-only dependency).

Both read a partial ballot the same way: the unranked items tie below every ranked one
(pref_voting's "extended strict preference"). Borda with shared points for the tied
unranked items is, per ballot, (N - 1 + symmetric Borda) / 2, so pref_voting's symmetric
Borda checks ours; Schulze is its beat path with winning votes (``support``) as strength.
"""

import random

import pytest
from pref_voting.margin_based_methods import beat_path, beat_path_defeat
from pref_voting.profiles_with_ties import ProfileWithTies
from pref_voting.scoring_methods import symmetric_borda_scores
from scipy.stats import rankdata

from services.surveys.aggregation import aggregate


def random_profile(rng: random.Random, partial: bool):
    items = [f"s{i}" for i in range(rng.randint(2, 7))]
    ballots = []
    for _ in range(rng.randint(1, 40)):
        order = rng.sample(items, len(items))
        ballots.append(order[: rng.randint(1, len(items))] if partial else order)
    return items, ballots


def independent(items, ballots):
    profile = ProfileWithTies([{item: place for place, item in enumerate(b, 1)} for b in ballots], candidates=items)
    profile.use_extended_strict_preference()
    return profile


@pytest.mark.parametrize("partial", [False, True], ids=["full", "partial"])
@pytest.mark.parametrize("seed", range(60))
def test_every_method_agrees_with_pref_voting_on_a_random_profile(seed, partial):
    items, ballots = random_profile(random.Random(seed * 2 + partial), partial)
    ours, theirs = aggregate(ballots, items), independent(items, ballots)
    n, voters = len(items), len(ballots)

    symmetric = symmetric_borda_scores(theirs)
    assert ours["borda"]["scores"] == pytest.approx({i: (voters * (n - 1) + symmetric[i]) / 2 for i in items})

    for a in items:
        for b in items:
            if a != b:
                assert ours["schulze"]["pairwise"][a][b] == theirs.support(a, b)
    assert sorted(ours["schulze"]["order"][0]) == sorted(beat_path(theirs, strength_function=theirs.support))
    defeats = beat_path_defeat(theirs, strength_function=theirs.support)
    p = ours["schulze"]["strongest_paths"]
    assert {(a, b) for a in items for b in items if a != b and p[a][b] > p[b][a]} == set(defeats.edges)

    assert ours["condorcet_winner"] == theirs.condorcet_winner()

    # mean rank: scipy's average ranks of each ballot's full weak order
    mean = {i: 0.0 for i in items}
    for ballot in ballots:
        level = {i: ballot.index(i) if i in ballot else len(ballot) for i in items}
        for item, rank in zip(items, rankdata([level[i] for i in items], method="average")):
            mean[item] += rank / voters
    assert ours["mean_rank"]["scores"] == pytest.approx(mean)
