"""Telling people at once, by e-mail, what became of their enrolment in a lab.

How mail is sent (SMTP or the maildir) is shared by every service: ``rebuilding.mail``.
"""

from rebuilding.mail import SIGNATURE


_REFUSAL_REASONS = {
    "ineligible": "il Suo profilo non rientra tra i destinatari previsti per questo laboratorio.",
    "closed": "le iscrizioni a questo laboratorio sono chiuse.",
    "duplicate": (
        "risulta già una Sua iscrizione, o una Sua richiesta in lista d'attesa, per questo "
        "laboratorio: non è necessario iscriversi di nuovo."
    ),
    "cancelled": "il laboratorio è stato annullato.",
}


def enrolment_message(outcome: str, person_name: str, lab_title: str, details: dict) -> tuple[str, str]:
    """The Italian subject and body telling ``person_name`` the outcome of an enrolment."""
    lab = f"«{lab_title}»"
    if outcome == "confirmed":
        subject = f"Iscrizione confermata: {lab_title}"
        text = (
            f"la Sua iscrizione al laboratorio {lab} è confermata.\n\n"
            "Se non potesse più partecipare, La preghiamo di ritirare l'iscrizione, "
            "così che il posto possa andare a chi è in lista d'attesa."
        )
    elif outcome == "waitlisted":
        subject = f"In lista d'attesa: {lab_title}"
        text = (
            f"i posti del laboratorio {lab} sono esauriti. La Sua richiesta è in lista "
            f"d'attesa, in posizione {_required(details, 'position')}.\n\n"
            "Se si libera un posto, Le scriveremo subito."
        )
    elif outcome == "promoted":
        subject = f"Si è liberato un posto: iscrizione confermata a {lab_title}"
        text = (
            f"si è liberato un posto nel laboratorio {lab}: la Sua richiesta, che era in "
            "lista d'attesa, è ora un'iscrizione confermata.\n\n"
            "Se non potesse più partecipare, La preghiamo di ritirare l'iscrizione."
        )
    elif outcome == "refused":
        reason = _required(details, "reason")
        if reason not in _REFUSAL_REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        subject = f"Iscrizione non accolta: {lab_title}"
        text = (
            f"non è stato possibile accogliere la Sua iscrizione al laboratorio {lab}: "
            f"{_REFUSAL_REASONS[reason]}"
        )
    elif outcome == "withdrawn":
        subject = f"Iscrizione ritirata: {lab_title}"
        text = (
            f"la Sua iscrizione al laboratorio {lab} è stata ritirata "
            "e il Suo posto è ora disponibile per altri partecipanti."
        )
    elif outcome == "cancelled":
        subject = f"Laboratorio annullato: {lab_title}"
        text = (
            f"La informiamo che il laboratorio {lab}, al quale risultava iscritto/a, "
            "è stato annullato. La Sua iscrizione è pertanto chiusa.\n\n"
            "Ci scusiamo per il disagio."
        )
    else:
        raise ValueError(f"unknown enrolment outcome {outcome!r}")
    return subject, f"Gentile {person_name},\n\n{text}\n\n{SIGNATURE}\n"


def _required(details: dict, key: str):
    if details.get(key) is None:
        raise ValueError(f"details must give {key!r}")
    return details[key]
