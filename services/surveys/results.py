"""A survey's results from the answers that count: pure, so the service and the tests compute them alike."""

from collections import Counter

from services.surveys.aggregation import aggregate
from services.surveys.domain import ANONYMITY_THRESHOLD, POSITIVE


def likert(values: list[int]) -> dict:
    counts = Counter(values)
    total = len(values)
    positive = sum(counts[v] for v in POSITIVE)
    return {"answers": total, "distribution": {str(v): counts[v] for v in range(1, 6)},
            "mean": round(sum(values) / total, 4) if total else None,
            "positive_share": round(positive / total, 4) if total else None}


def question_result(question: dict, counted: list[dict], anonymous: bool) -> dict:
    values = [c["answers"][question["id"]] for c in counted if question["id"] in c["answers"]]
    result = {"question_id": question["id"], "type": question["type"], "answers": len(values)}
    if question["type"] == "ranking":
        result["ranking"] = aggregate(values, [i["id"] for i in question["items"]])
    elif question["type"] == "likert":
        result.update(likert(values))
        by_lab: dict[str, list[int]] = {}
        for c in counted:
            if question["id"] in c["answers"]:
                for lab in c.get("labs") or ():
                    by_lab.setdefault(lab, []).append(c["answers"][question["id"]])
        result["by_lab"] = {lab: likert(v) for lab, v in sorted(by_lab.items())
                            if not anonymous or len(v) >= ANONYMITY_THRESHOLD}
    elif question["type"] in ("single_choice", "multiple_choice"):
        chosen = Counter(v for value in values for v in (value if isinstance(value, list) else [value]))
        result["options"] = {o["id"]: chosen[o["id"]] for o in question["options"]}
    return result


def results(questions: list[dict], counted: list[dict], scope: str, anonymous: bool) -> dict:
    """The results of every question for ``scope``: ``region``, or ``ats:<code>`` (the answers of that ATS).

    An anonymous survey hides a scope with fewer than ``ANONYMITY_THRESHOLD`` answers.
    """
    if scope != "region":
        counted = [c for c in counted if c.get("ats") == scope.removeprefix("ats:")]
    if anonymous and 0 < len(counted) < ANONYMITY_THRESHOLD:
        return {"scope": scope, "responses": len(counted), "withheld": True, "questions": []}
    return {"scope": scope, "responses": len(counted), "withheld": False,
            "questions": [question_result(q, counted, anonymous) for q in questions]}


def texts(questions: list[dict], counted: list[dict], anonymous: bool) -> dict:
    """The answers to each text question, naming nobody, in alphabetical order (which tells nothing of who or when).

    An anonymous survey shows none while it has fewer than ``ANONYMITY_THRESHOLD`` answers.
    """
    if anonymous and 0 < len(counted) < ANONYMITY_THRESHOLD:
        return {"responses": len(counted), "withheld": True, "questions": []}
    return {"responses": len(counted), "withheld": False,
            "questions": [{"question_id": q["id"],
                           "texts": sorted((c["answers"][q["id"]] for c in counted if q["id"] in c["answers"]),
                                           key=lambda text: (text.casefold(), text))}
                          for q in questions if q["type"] == "text"]}


def hidden_groups(ballots: list[dict]) -> tuple[set[str], set[str]]:
    """The ATS and the labs an anonymous export leaves out, from every row: (ATS, labs).

    Those with fewer than ``ANONYMITY_THRESHOLD`` answers, as the results hide them; then, while some
    row's combination of what it still shows (its ATS, its labs) is shared by fewer answers, one more
    of that combination's ATS or labs, the smallest group first (a lab before an ATS at a tie); and
    while the rows showing nothing are too few, the smallest group shown anywhere (labs first), since
    beside the response rate those rows would tell by elimination whose they are. A value is left out
    of every row or of none, so the rows that show an ATS or a lab are exactly its group in the results.
    """
    ats_count = Counter(b["ats"] for b in ballots if b["ats"])
    lab_count = Counter(lab for b in ballots for lab in set(b["labs"] or ()))
    hidden_ats = {ats for ats, n in ats_count.items() if n < ANONYMITY_THRESHOLD}
    hidden_labs = {lab for lab, n in lab_count.items() if n < ANONYMITY_THRESHOLD}

    def shown(ballot: dict) -> tuple[str | None, tuple[str, ...]]:
        ats = ballot["ats"] if ballot["ats"] not in hidden_ats else None
        return ats, tuple(sorted(set(ballot["labs"] or ()) - hidden_labs))

    while True:
        rare = [combination for combination, n in Counter(map(shown, ballots)).items() if n < ANONYMITY_THRESHOLD]
        if not rare:
            return hidden_ats, hidden_labs
        candidates = ([((lab_count[lab], 0), "lab", lab) for _, labs in rare for lab in labs]
                      + [((ats_count[ats], 1), "ats", ats) for ats, _ in rare if ats])
        if not candidates:
            candidates = ([((0, lab_count[lab]), "lab", lab) for lab in lab_count if lab not in hidden_labs]
                          + [((1, ats_count[ats]), "ats", ats) for ats in ats_count if ats not in hidden_ats])
        if not candidates:
            return hidden_ats, hidden_labs  # nothing left to hide: too few answers in all, which the export refuses
        _, kind, value = min(candidates)
        (hidden_labs if kind == "lab" else hidden_ats).add(value)


def priorities(questions: list[dict], counted: list[dict]) -> dict | None:
    """What a closed needs assessment tells labs: its first ranking question's order, for the region and per ATS.

    Each order is Schulze's (ties as tiers), beside the Borda scores; see docs/surveys.md.
    """
    question = next((q for q in questions if q["type"] == "ranking"), None)
    if question is None:
        return None
    items = [i["id"] for i in question["items"]]

    def summary(group: list[dict]) -> dict:
        ranking = aggregate([c["answers"][question["id"]] for c in group if question["id"] in c["answers"]], items)
        return {"ballots": ranking["ballots"], "order": ranking["schulze"]["order"],
                "borda": ranking["borda"]["scores"], "condorcet_winner": ranking["condorcet_winner"]}

    by_ats: dict[str, list[dict]] = {}
    for c in counted:
        if c.get("ats"):
            by_ats.setdefault(c["ats"], []).append(c)
    return {"question_id": question["id"], "region": summary(counted),
            "ats": {ats: summary(group) for ats, group in sorted(by_ats.items())}}
