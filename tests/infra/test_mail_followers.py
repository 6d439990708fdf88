"""Every follower that sends e-mail is one ``MailFollower``: a rebuild never sends again, and the
service's own process never runs it (``rebuilding mail`` does)."""

import inspect
import subprocess
import sys

import pytest

from rebuilding import config
from rebuilding.mail import MailFollower
from rebuilding.services import application_class


@pytest.mark.parametrize("service", config.SERVICES)
def test_a_services_followers_that_send_mail_are_mail_followers_and_never_rebuilt(service):
    for cls in application_class(service).projection_classes:
        sends_mail = "notifier" in inspect.getsource(cls)
        assert sends_mail == issubclass(cls, MailFollower), cls
        assert cls.rebuildable == (not issubclass(cls, MailFollower)), cls
        assert cls.runs_in == ("mail" if issubclass(cls, MailFollower) else "service"), cls


def test_the_labs_surveys_and_toolkit_each_send_their_mail_from_a_mail_follower():
    senders = {service: [c.__name__ for c in application_class(service).projection_classes
                         if issubclass(c, MailFollower)] for service in ("labs", "surveys", "toolkit")}
    assert senders == {"labs": ["EnrolmentMail"], "surveys": ["SurveyMail"], "toolkit": ["ProposalMail"]}


def test_the_mail_command_refuses_a_service_that_sends_no_mail():
    result = subprocess.run([sys.executable, "-m", "rebuilding.cli", "mail", "registry"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "registry sends no mail" in result.stderr
