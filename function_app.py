"""Azure Functions entry points. Thin on purpose: every trigger hands its input to the core."""

import json

import azure.functions as func

from drift import runtime

app = func.FunctionApp()
runtime.check_settings()  # a broken setting (e.g. an unresolved Key Vault reference) says so at start-up


@app.event_grid_trigger(arg_name="event")
def on_arm_event(event: func.EventGridEvent) -> None:
    """An Azure subscription event (Event Grid schema or CloudEvents 1.0).

    Raising fails the invocation, so Event Grid delivers the event again.
    """
    runtime.engine().handle_many([runtime.function_event_to_raw(event)])


@app.timer_trigger(arg_name="timer", schedule="0 */1 * * * *", run_on_startup=False)
def sweep_alerts(timer: func.TimerRequest) -> None:
    """Deliver alerts the event path could not (outage, crash) and the digest of rate-limited ones;
    then export to Log Analytics the history rows the event path could not."""
    runtime.engine().sweep()


@app.queue_trigger(arg_name="message", queue_name="%DRIFT_RECHECK_QUEUE%", connection="AzureWebJobsStorage")
def recheck(message: func.QueueMessage) -> None:
    """A deferred re-check: the server was still updating when its event came."""
    payload = json.loads(message.get_body())
    runtime.engine().handle_many_rechecks([payload])


@app.timer_trigger(arg_name="timer", schedule="%DRIFT_RECONCILE_SCHEDULE%", run_on_startup=False)
def reconcile(timer: func.TimerRequest) -> None:
    """Every watched server, checked against its baseline (default every 6 hours: `0 0 */6 * * *`)."""
    runtime.reconcile()


@app.route(route="{action:alpha}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def review(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/accept` {server, setting?, reason} and `POST /api/ack` {event_id, reason}."""
    from drift.http import review as handle

    status, answer = handle(runtime.engine(), req.route_params.get("action", ""), req.get_body(), dict(req.headers))
    return func.HttpResponse(json.dumps(answer), status_code=status, mimetype="application/json")


@app.route(route="console/{*path}", methods=["GET", "HEAD", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    """The web console (drift/console). No function key, since a browser has none: it is served only
    where App Service Authentication signs the user in first, and refuses anywhere else."""
    from drift.console.app import for_function

    answer = for_function(runtime.engine, req.method, req.route_params.get("path") or "", dict(req.params),
                          dict(req.headers), req.get_body())
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)
