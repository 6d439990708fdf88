"""The API's refusals of a form, said in Italian beside the fields they concern.

The API names each invalid field in ``details`` with marshmallow's English messages (or the platform's
text rule's); a page shows each one under its own field, in Italian, and keeps what the person typed.
"""

import re

from rebuilding.errors import DomainError

FILE_TYPES_ALLOWED = "PDF, DOCX, ODT, XLSX, ODS o testo semplice"

MESSAGES = (
    (r"Missing data for required field\.", "Campo obbligatorio."),
    (r"Shorter than minimum length (\d+)\.", "Almeno {0} caratteri."),
    (r"Longer than maximum length (\d+)\.", "Al massimo {0} caratteri."),
    (r"Length must be between (\d+) and (\d+)\.", "Da {0} a {1} caratteri."),
    (r"Must be one of: .*", "Scelga uno dei valori proposti."),
    (r"Not a valid UUID\.", "Identificativo non valido."),
    (r"Not a valid (integer|number)\.", "Serve un numero."),
    (r"contains a line break .*", "Non può andare a capo."),
    (r"contains a (control character|lone surrogate) .*", "Contiene un carattere non ammesso."),
    (r"no theme (.+)", "Tema sconosciuto: {0}."),
    (r"withdrawn", "Il documento è stato ritirato."),
    (r"Unknown field\.", "Campo non previsto."),
    (r"an empty file", "Il file è vuoto, o non è stato scelto."),
    (r"one file only", "Si può caricare un solo file."),
    (r"not a valid form|incomplete", "Il file non è arrivato per intero: riprovi."),
    (r"Field may not be null\.", "Campo obbligatorio."),
    (r"Not a valid date\.", "Inserisca una data valida."),
    (r"Not a valid boolean\.", "Valore non valido."),
    (r"letters, digits, '_', '\.' or '-'", "Il codice può contenere solo lettere, cifre, «_», «.» e «-»."),
    # a survey's answers (services/surveys/domain.py)
    (r"an answer is required", "Questa domanda è obbligatoria."),
    (r"some text", "Scriva una risposta."),
    (r"a whole number from 1 to 5", "Scelga un valore da 1 a 5."),
    (r"an option id|not an option: .*", "Scelga una delle opzioni proposte."),
    (r"a list of option ids, at least one", "Scelga almeno una delle opzioni proposte."),
    (r"an option chosen twice", "Ogni opzione si sceglie una volta sola."),
    (r"a ranking is a list.*|not an item of this question: .*|ranked more than once: .*",
     "La graduatoria deve contenere ogni voce una volta sola."),
    (r"no such question in this survey", "Domanda che non fa parte del questionario."),
    # a survey's definition; the domain's problems of a question start with its id
    (r"after opens", "La chiusura deve venire dopo l'apertura."),
    (r"(?:.*: )?a \w+ question needs two (?:items|options) at least", "Servono almeno due voci, una per riga."),
    (r"(?:.*: )?each of its (?:items|options) needs an id of its own", "Ogni voce deve avere un codice diverso."),
    (r"each question needs an id of its own", "Ogni domanda deve avere un codice diverso."),
    (r"a needs assessment is answered by the Ambiti", "Una rilevazione dei fabbisogni è rivolta agli Ambiti."),
    (r"an outcome evaluation is answered by the participants of labs",
     "Una valutazione degli esiti è rivolta ai partecipanti dei laboratori."),
    (r"name the labs whose participants answer", "Scelga almeno un laboratorio."),
    (r"only a survey of participants can be anonymous",
     "Solo un questionario rivolto ai partecipanti dei laboratori può essere anonimo."),
    (r"no lab .*", "Uno dei laboratori scelti non risulta (ancora) al servizio dei questionari."),
)
LIST_MESSAGES = ((r"Longer than maximum length (\d+)\.", "Al massimo {0} voci."),)


def italian(message: str, is_list: bool = False) -> str:
    for pattern, text in (LIST_MESSAGES if is_list else ()) + MESSAGES:
        match = re.fullmatch(pattern, message)
        if match:
            return text.format(*match.groups())
    return "Valore non valido."


def _messages(value) -> list[str]:
    """marshmallow's messages of one field: a list, or for a list field a dict of each item's list."""
    if isinstance(value, dict):
        return [m for item in value.values() for m in _messages(item)]
    if isinstance(value, (list, tuple)):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


def in_italian(value, is_list: bool = False) -> str:
    """One field's messages (marshmallow's list, or a nested field's dict of them) in Italian, each once."""
    return " ".join(dict.fromkeys(italian(m, is_list) for m in _messages(value)))


def field_problems(error: DomainError, names: dict[str, str], lists: tuple[str, ...] = (),
                   limit: str | None = None) -> dict[str, str]:
    """Each page field's problem, in Italian: ``names`` maps the API's field names to the page's.
    A problem of a field the page does not show is under ``""``, for the top of the form; ``limit`` says
    the largest file allowed, as the page shows it."""
    if error.status == 413:
        size = f" di {limit}" if limit else ""
        return {names.get("file", "file"): f"Il file supera il limite{size}: non è stato conservato nulla."}
    if error.status == 415:
        return {names.get("file", "file"): f"Il file non è un {FILE_TYPES_ALLOWED} (il tipo si legge dal "
                                           "contenuto, non dal nome): è stato rifiutato e non è stato conservato."}
    problems: dict[str, str] = {}
    details = error.details if isinstance(error.details, dict) else {}
    for api_name, value in details.items():
        if api_name == "reason" and isinstance(value, str) and api_name not in names:
            continue  # a refusal's reason code, not a field
        text = in_italian(value, api_name in lists)
        key = names.get(api_name, "")
        problems[key] = f"{problems[key]} {text}".strip() if key in problems else text
    return problems
