"""SignInEmailWorkflow: the account's sign-in email (R24), retried through a mail outage like every email."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from contracts import sign_in as contract
    from contracts.sign_in import SignInEmailInput, SignInEmailResult
    from workflows.steps import durable


@workflow.defn(name=contract.WORKFLOW)
class SignInEmailWorkflow:
    @workflow.run
    async def run(self, input: SignInEmailInput) -> SignInEmailResult:
        return await durable(EmailActivities.send_sign_in_email, input)
