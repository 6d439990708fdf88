"""The survey pages' forms as pure functions: what a form sent, as the API's body; what the API refused, as
Italian messages by the form's fields. The API decides what is valid; these only carry values both ways.
"""

import re
import unicodedata

from rebuilding.errors import Invalid
from services.gateway.pages.form_errors import in_italian

MOVES = {"su": -1, "giu": 1}
QUESTION_SLOTS = 8
"""How many questions the new-survey form offers: enough for a short survey, without JavaScript."""
DEFINITION_FIELDS = {"title": "titolo", "kind": "tipo", "audience": "destinatari", "anonymous": "anonimo",
                     "opens": "apertura", "closes": "chiusura", "questions": "domande"}
QUESTION_FIELDS = {"text": "testo", "type": "tipo", "items": "voci", "options": "voci", "id": "voci",
                   "required": "obbligatoria"}
CHOICES = {"ranking": "items", "single_choice": "options", "multiple_choice": "options"}


# answering

def answer_field(question_id: str) -> str:
    """The form field of a question's answer (a ranking's order is ``ordine-<id>``, one field an item)."""
    return f"risposta-{question_id}"


def start_order(question: dict, saved: list | None) -> list[str]:
    """The saved ranking first (it may be partial), then the items it leaves out in the survey's order."""
    ids = [item["id"] for item in question["items"]]
    ranked = [i for i in (saved or []) if i in ids]
    return ranked + [i for i in ids if i not in ranked]


def order_from_form(form, question: dict) -> list[str]:
    """The order the form sent: every item once, or the form was tampered with (400)."""
    ids = [item["id"] for item in question["items"]]
    order = form.getlist(f"ordine-{question['id']}")
    if sorted(order) != sorted(ids):
        raise Invalid("the ranking must hold each item once", {f"ordine-{question['id']}": ["each item once"]})
    return order


def moved(order: list[str], item: str, direction: str) -> list[str]:
    if item not in order or direction not in MOVES:
        raise Invalid("unknown move", {"sposta": ["an item and su or giu"]})
    at = order.index(item)
    to = min(max(at + MOVES[direction], 0), len(order) - 1)
    order = list(order)
    order[at], order[to] = order[to], order[at]
    return order


def start_values(questions: list[dict], saved: dict) -> dict:
    """What the form shows first: the saved answers, and each ranking in full (saved order first)."""
    values = {q["id"]: saved[q["id"]] for q in questions if q["id"] in saved}
    for q in questions:
        if q["type"] == "ranking":
            values[q["id"]] = start_order(q, saved.get(q["id"]))
    return values


def answers_from_form(form, questions: list[dict]) -> dict:
    """The answers the form holds, as the API takes them; a question left blank is left out.

    A ranking is always its whole order (the form sends every item). A likert's value goes as a
    number when it is one, and as it came when not, for the API to say what is wrong with it.
    """
    answers = {}
    for q in questions:
        name = answer_field(q["id"])
        if q["type"] == "ranking":
            answers[q["id"]] = order_from_form(form, q)
        elif q["type"] == "multiple_choice":
            if chosen := form.getlist(name):
                answers[q["id"]] = chosen
        elif q["type"] == "likert":
            value = form.get(name, "").strip()
            if value:
                answers[q["id"]] = int(value) if value.isascii() and value.isdigit() else value
        elif q["type"] == "text":
            value = form.get(name, "").replace("\r\n", "\n")
            if value.strip():
                answers[q["id"]] = value
        elif value := form.get(name, ""):
            answers[q["id"]] = value
    return answers


def answer_problems(error: Invalid) -> tuple[dict[str, str], list[str]]:
    """The API's refusal of a response: an Italian message per question id, and those about the whole form."""
    details = error.details or {}
    answers = details.get("answers")
    by_question = {str(k): in_italian(v) for k, v in answers.items()} if isinstance(answers, dict) else {}
    general = []
    if isinstance(answers, list):
        general.append("Risponda almeno a una domanda.")
    for name, messages in details.items():
        if name != "answers":
            general.append(in_italian(messages))
    return by_question, general


# defining

def code_of(label: str) -> str:
    """A readable code for a label (the exports show codes): ``Posta elettronica`` → ``posta-elettronica``."""
    plain = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:60].strip("-")


def items_from_lines(text: str) -> list[dict]:
    """A ranking's items or a choice's options, one a line: ``Etichetta``, or ``codice | Etichetta``.

    A line without a code takes one made from its label (``v<place>`` when the label has no letter
    or digit to make it from; a repeated one gets its place too). A needs assessment's ranking names
    the labs' theme codes, which is what labs matches its ATS's priorities with.
    """
    items, taken = [], set()
    for n, line in enumerate((line.strip() for line in text.splitlines() if line.strip()), 1):
        code, bar, label = line.partition("|")
        if bar:
            item = {"id": code.strip(), "label": label.strip()}
        else:
            made = code_of(line) or f"v{n}"
            item = {"id": made if made not in taken else f"{made}-{n}", "label": line}
        taken.add(item["id"])
        items.append(item)
    return items


def survey_from_form(form) -> tuple[dict, dict[int, int]]:
    """The API's SurveyCreate body from the new-survey form, and each question's slot on the form by its index.

    A slot whose text is blank is no question. Question ids are ``d<slot>``.
    """
    questions, slots = [], {}
    for slot in range(1, QUESTION_SLOTS + 1):
        text = form.get(f"domanda-{slot}-testo", "").replace("\r\n", "\n").strip()
        if not text:
            continue
        kind = form.get(f"domanda-{slot}-tipo", "")
        question = {"id": f"d{slot}", "type": kind, "text": text}
        if kind in CHOICES:
            question[CHOICES[kind]] = items_from_lines(form.get(f"domanda-{slot}-voci", ""))
        if form.get(f"domanda-{slot}-obbligatoria"):
            question["required"] = True
        slots[len(questions)] = slot
        questions.append(question)
    audience = form.get("destinatari", "")
    body = {
        "title": form.get("titolo", "").strip(), "kind": form.get("tipo", ""),
        "audience": {"type": audience, "labs": form.getlist("laboratori") if audience == "participants" else []},
        "anonymous": bool(form.get("anonimo")), "opens": form.get("apertura", ""), "closes": form.get("chiusura", ""),
        "questions": questions,
    }
    return body, slots


def definition_problems(error: Invalid, slots: dict[int, int]) -> dict[str, str]:
    """The API's refusal of a definition, in Italian by the form's field (``domanda-<slot>-<field>`` for a question)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, messages, is_list: bool = False) -> None:
        problems.setdefault(field, []).append(in_italian(messages, is_list))

    for name, messages in (error.details or {}).items():
        if name == "questions" and isinstance(messages, dict):  # the schema's, by the question's index
            for index, fields in messages.items():
                slot = slots.get(int(index)) if str(index).isdigit() else None
                for field, field_messages in (fields.items() if isinstance(fields, dict) else [("testo", fields)]):
                    add(f"domanda-{slot}-{QUESTION_FIELDS.get(field, 'testo')}" if slot else "domande",
                        field_messages, is_list=field in ("items", "options") and isinstance(field_messages, list))
        elif name == "questions":  # the domain's, each "<question id>: <problem>"
            for message in messages if isinstance(messages, list) else [messages]:
                question_id, colon, _ = str(message).partition(": ")
                slot = int(question_id[1:]) if colon and question_id[:1] == "d" and question_id[1:].isdigit() else None
                add(f"domanda-{slot}-voci" if slot else "domande", [message])
        elif name == "audience":
            about_labs = "labs" in messages if isinstance(messages, dict) else \
                any(str(m).startswith(("name the labs", "no lab ")) for m in messages)
            add("laboratori" if about_labs else "destinatari", messages)
        else:
            add(DEFINITION_FIELDS.get(name, "generale"), messages)
    return {field: " ".join(dict.fromkeys(texts)) for field, texts in problems.items()}
