"""The API's validation messages in Italian, for a page that shows each beside its field.

The API answers a 400 with English messages per field (marshmallow's, the platform's text rule,
the services' own rules); a person filling in a form reads them here, in Italian. A message
without a translation reads as a generic one: the page never shows English.
"""

import re

TRANSLATIONS = (
    # every field
    (r"Missing data for required field\.", "Campo obbligatorio."),
    (r"Field may not be null\.", "Campo obbligatorio."),
    (r"Longer than maximum length (\d+)\.", "Al massimo {0} caratteri."),
    (r"Shorter than minimum length (\d+)\.", "Almeno {0} caratteri."),
    (r"Length must be between (\d+) and (\d+)\.", "Da {0} a {1} caratteri."),
    (r"contains a line break .*", "Deve stare su una riga sola."),
    (r"contains a control character .*", "Contiene un carattere di controllo, che non è ammesso."),
    (r"contains a lone surrogate .*", "Contiene un carattere non valido."),
    (r"Not a valid date\.", "Inserisca una data valida."),
    (r"Not a valid boolean\.", "Valore non valido."),
    (r"Must be one of: .*", "Scelga uno dei valori proposti."),
    (r"letters, digits, '_', '\.' or '-'", "Il codice può contenere solo lettere, cifre, «_», «.» e «-»."),
    # a survey's answers
    (r"an answer is required", "Questa domanda è obbligatoria."),
    (r"some text", "Scriva una risposta."),
    (r"a whole number from 1 to 5", "Scelga un valore da 1 a 5."),
    (r"an option id|not an option: .*", "Scelga una delle opzioni proposte."),
    (r"a list of option ids, at least one", "Scelga almeno una delle opzioni proposte."),
    (r"an option chosen twice", "Ogni opzione si sceglie una volta sola."),
    (r"a ranking is a list.*|not an item of this question: .*|ranked more than once: .*",
     "La graduatoria deve contenere ogni voce una volta sola."),
    (r"no such question in this survey", "Domanda che non fa parte del questionario."),
    # a survey's definition
    (r"at most (\d+) items", "Al massimo {0} voci."),
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
    (r"at least one", "Scriva almeno una domanda."),
)
COMPILED = tuple((re.compile(pattern), italian) for pattern, italian in TRANSLATIONS)
UNKNOWN = "Valore non valido."


def italian(message: str) -> str:
    """One API message in Italian."""
    for pattern, text in COMPILED:
        found = pattern.fullmatch(str(message))
        if found:
            return text.format(*found.groups())
    return UNKNOWN


def italian_all(messages) -> str:
    """A field's messages (a list, or one) in Italian, each once, as one sentence or a few."""
    if isinstance(messages, dict):  # a nested field's messages: its own fields' ones
        messages = [m for value in messages.values() for m in (value if isinstance(value, list) else [value])]
    if not isinstance(messages, list):
        messages = [messages]
    return " ".join(dict.fromkeys(italian(m) for m in messages if not isinstance(m, (dict, list)))) or UNKNOWN
