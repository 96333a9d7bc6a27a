"""SignInEmailWorkflow's contract: the account's one-time link (R24), emailed once per sign-in. Only the
sign-in's id crosses Temporal: the link is made from it by the activity, so no history holds a link."""

from pydantic import BaseModel

WORKFLOW = "SignInEmailWorkflow"


def workflow_id(sign_in_id: str) -> str:
    return f"sign-in-{sign_in_id}"


class SignInEmailInput(BaseModel):
    sign_in_id: str


class SignInEmailResult(BaseModel):
    sent: bool
