"""The action providers local mode runs: provider name -> handler.

Each provider is one module here with `run(ctx: ActionContext) -> ActionResult`
(`pipekit.local.actions.base`). Adding a provider touches two files, plus its test: its module,
and its line in `PROVIDERS` below. An action whose provider is not listed fails with "not
supported in local mode". Owner AWS throughout: the engine keys on the provider name alone."""

from __future__ import annotations

from pipekit.local import definition as defn
from pipekit.local.actions import approval, build, deploy, source
from pipekit.local.actions.base import Handler
from pipekit.local.wire import ActionFailed

PROVIDERS: dict[str, Handler] = {
    defn.SOURCE_PROVIDER: source.run,
    "CodeBuild": build.run,
    "CodeDeploy": deploy.run,
    "Manual": approval.run,
}


def handler_for(provider: str) -> Handler:
    handler = PROVIDERS.get(provider)
    if handler is None:
        raise ActionFailed(
            "JobFailed", f"Action provider {provider} is not supported in local mode"
        )
    return handler
