"""The gateway: one HTTP+JSON API composed over RPC from the services' read models, and the web pages."""

from services.gateway.auth_routes import AuthRoutes
from services.gateway.labs_routes import LabsRoutes
from services.gateway.pages.routes import PagesRoutes
from services.gateway.pages.signin_pages import SignInPages
from services.gateway.pages.survey_pages import SurveyPages
from services.gateway.pages.survey_results import SurveyResultsPages
from services.gateway.pages.toolkit_pages import ToolkitPages
from services.gateway.platform_routes import PlatformRoutes
from services.gateway.registry_routes import RegistryRoutes
from services.gateway.revocations import Revocations
from services.gateway.surveys_routes import SurveysRoutes
from services.gateway.toolkit_routes import ToolkitRoutes


class GatewayService(RegistryRoutes, LabsRoutes, SurveysRoutes, ToolkitRoutes, PlatformRoutes, AuthRoutes,
                     PagesRoutes, SignInPages, SurveyPages, SurveyResultsPages, ToolkitPages):
    name = "gateway"
    revocations = Revocations()
