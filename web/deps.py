"""What the routes depend on, as `Annotated` types. `create_app` and `create_api` keep the factories in
their FastAPI app's state: the services exist only once the application is open (its lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from domain.links import LinkSigner
from payments.gateway import PaymentGateway
from runtime.app import App
from services.quotes import QuoteService
from web.security import PostLimit


def _quotes(request: Request) -> QuoteService:
    return request.app.state.quotes()


def _signer(request: Request) -> LinkSigner:
    return request.app.state.signer


def _gateway(request: Request) -> PaymentGateway:
    return request.app.state.gateway()


def _post_limit(request: Request) -> PostLimit:
    return request.app.state.post_limit


def _application(request: Request) -> App:
    return request.app.state.application()


Quotes = Annotated[QuoteService, Depends(_quotes)]
Signer = Annotated[LinkSigner, Depends(_signer)]
Gateway = Annotated[PaymentGateway, Depends(_gateway)]
Limit = Annotated[PostLimit, Depends(_post_limit)]
Application = Annotated[App, Depends(_application)]
