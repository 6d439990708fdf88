"""The Italian labels of the platform's code values: what pages, registers and e-mails show a person.

Codes stay English in the API and the events (``present``, ``responsabile_ufficio_di_piano``);
whatever a person reads says them in Italian, from here. A code without a label is shown as it is.
"""

from services.registry.territory import ATS_NAMES

ATS = ATS_NAMES
"""``bergamo`` → "ATS di Bergamo"."""

PERSON_ROLES = {
    "responsabile_ufficio_di_piano": "Responsabile Ufficio di Piano",
    "responsabile_servizi_sociali": "Responsabile Servizi Sociali",
    "operatore": "Operatore/Operatrice",
    "referente_ats": "Referente ATS",
    "referente_cpi": "Referente Centro per l'Impiego",
    "staff_anci": "Staff ANCI Lombardia",
}

ORGANISATION_KINDS = {
    "ufficio_di_piano": "Ufficio di Piano",
    "comune": "Comune",
    "ats": "ATS",
    "cpi": "Centro per l'Impiego",
    "anci": "ANCI Lombardia",
}

ATTENDANCE = {
    "present": "presente",
    "late": "in ritardo",
    "excused": "assente giustificato",
    "absent": "assente",
}

LAB_STATUSES = {
    "draft": "bozza",
    "published": "iscrizioni aperte",
    "enrolment_closed": "iscrizioni chiuse",
    "running": "in corso",
    "completed": "concluso",
    "cancelled": "annullato",
}

ENROLMENT_STATUSES = {
    "confirmed": "iscrizione confermata",
    "waitlisted": "in lista d'attesa",
    "withdrawn": "ritirato",
    "refused": "non accolta",
}

FORMATS = {
    "laboratorio": "Laboratorio",
    "webinar": "Webinar",
    "focus_group": "Focus group",
    "tutorial": "Tutorial",
    "affiancamento": "Affiancamento",
}

PLATFORM_ROLES = {
    "staff": "Staff ANCI Lombardia",
    "ambito": "Staff di un Ambito territoriale",
    "participant": "Partecipante",
    "auditor": "Revisore",
    "subscriber": "Progetto abbonato ai flussi di eventi",
}

REFUSAL_REASONS = {
    "ineligible": "il ruolo della persona non rientra tra i destinatari del laboratorio",
    "closed": "le iscrizioni non sono aperte",
    "duplicate": "la persona è già iscritta o in lista d'attesa",
    "cancelled": "il laboratorio è annullato",
    "not_a_participant": "la cassetta degli attrezzi è aperta a chi ha un'iscrizione confermata a un laboratorio",
    "wrong_status": "non è nella fase giusta per questa operazione",
    "frozen": "un questionario aperto o chiuso non si può più modificare",
    "answered": "ha già risposto a questo questionario anonimo: per modificare la risposta serve il codice "
                "ricevuto con la prima risposta",
    "not_closed": "le risposte di un questionario anonimo si leggono tutte insieme, dopo la chiusura",
    "too_few": "le risposte di un questionario anonimo si scaricano solo quando sono almeno 3, per l'anonimato",
}

DOCUMENT_KINDS = {
    "template": "modello",
    "administrative_act": "atto amministrativo",
    "guideline": "linea guida",
}

DOCUMENT_STATUSES = {
    "current": "in vigore",
    "withdrawn": "ritirato",
}

PROPOSAL_STATUSES = {
    "pending": "in attesa di moderazione",
    "published": "pubblicata",
    "rejected": "rifiutata",
}

DOCUMENT_SORTS = {
    "newest": "i più recenti",
    "downloads": "i più scaricati",
}

FILE_TYPES = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (DOCX)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (XLSX)",
    "application/vnd.oasis.opendocument.text": "OpenDocument testo (ODT)",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument foglio di calcolo (ODS)",
    "text/plain; charset=utf-8": "testo semplice",
}

SURVEY_KINDS = {
    "needs_assessment": "Rilevazione dei fabbisogni",
    "outcome_evaluation": "Valutazione degli esiti",
    "satisfaction": "Questionario di gradimento",
}

SURVEY_STATUSES = {
    "draft": "bozza",
    "open": "aperto",
    "closed": "chiuso",
}

SURVEY_AUDIENCES = {
    "ambiti": "gli Ambiti territoriali (risponde il Responsabile dell'Ufficio di Piano)",
    "participants": "i partecipanti ai laboratori scelti",
}

QUESTION_TYPES = {
    "ranking": "Graduatoria",
    "likert": "Scala da 1 a 5",
    "single_choice": "Scelta singola",
    "multiple_choice": "Scelta multipla",
    "text": "Risposta aperta",
}

LIKERT = {
    1: "1 – per niente",
    2: "2 – poco",
    3: "3 – abbastanza",
    4: "4 – molto",
    5: "5 – del tutto",
}
"""A likert answer's values, 1 to 5, with what each means."""

VOCABULARIES = {
    "ats": ATS, "person_role": PERSON_ROLES, "organisation_kind": ORGANISATION_KINDS, "attendance": ATTENDANCE,
    "lab_status": LAB_STATUSES, "enrolment_status": ENROLMENT_STATUSES, "format": FORMATS,
    "platform_role": PLATFORM_ROLES, "refusal_reason": REFUSAL_REASONS,
    "document_kind": DOCUMENT_KINDS, "document_status": DOCUMENT_STATUSES, "proposal_status": PROPOSAL_STATUSES,
    "document_sort": DOCUMENT_SORTS, "file_type": FILE_TYPES, "survey_kind": SURVEY_KINDS,
    "survey_status": SURVEY_STATUSES, "survey_audience": SURVEY_AUDIENCES, "question_type": QUESTION_TYPES,
    "likert": LIKERT,
}


def label(vocabulary: str, code) -> str:
    """The Italian label of ``code`` in ``vocabulary`` (a key of ``VOCABULARIES``); the code itself if none."""
    if code is None:
        return ""
    return VOCABULARIES[vocabulary].get(code, str(code))
