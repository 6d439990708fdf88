"""A survey's results beside the rankings: likert means, choice counts, and text answers naming nobody."""

from services.surveys.results import question_result, texts

LIKERT = {"id": "voto", "type": "likert", "text": "Quanto?"}
CHOICE = {"id": "canali", "type": "multiple_choice", "text": "Quali?",
          "options": [{"id": "mail", "label": "Posta"}, {"id": "web", "label": "Sito"}, {"id": "tel", "label": "Telefono"}]}
NOTE = {"id": "note", "type": "text", "text": "Osservazioni"}
QUESTIONS = [LIKERT, CHOICE, NOTE]


def counted(*answers: dict) -> list[dict]:
    return [{"answers": a, "labs": ["lab-1"], "ats": "bergamo"} for a in answers]


def test_a_likert_question_gives_its_distribution_its_mean_and_its_share_of_4_and_5():
    result = question_result(LIKERT, counted({"voto": 5}, {"voto": 2}, {"voto": 4}, {"note": "x"}), False)
    assert result["answers"] == 3
    assert result["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert result["mean"] == 3.6667 and result["positive_share"] == 0.6667


def test_a_multiple_choice_counts_each_option_chosen_and_names_the_ones_nobody_chose():
    result = question_result(CHOICE, counted({"canali": ["mail", "web"]}, {"canali": ["web"]}), False)
    assert result["options"] == {"mail": 1, "web": 2, "tel": 0}


def test_text_answers_come_in_alphabetical_order_whatever_order_they_were_given_in():
    answers = counted({"note": "zeta"}, {"note": "Beta"}, {"voto": 3}, {"note": "alfa"})
    assert texts(QUESTIONS, answers, anonymous=False) == {
        "responses": 4, "withheld": False, "questions": [{"question_id": "note", "texts": ["alfa", "Beta", "zeta"]}]}


def test_an_anonymous_surveys_text_answers_are_withheld_below_three_answers():
    two = counted({"note": "una"}, {"note": "due"})
    assert texts(QUESTIONS, two, anonymous=True) == {"responses": 2, "withheld": True, "questions": []}
    assert texts(QUESTIONS, two + counted({"note": "tre"}), anonymous=True)["questions"][0]["texts"] == \
        ["due", "tre", "una"]
