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
        text = " ".join(dict.fromkeys(italian(m, api_name in lists) for m in _messages(value)))
        key = names.get(api_name, "")
        problems[key] = f"{problems[key]} {text}".strip() if key in problems else text
    return problems
