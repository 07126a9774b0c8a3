// The console's only script (served from the package: no framework, no CDN).
// Accept and Acknowledge post JSON with fetch, same origin, with the X-Drift-Console header:
// the review routes refuse anything else, so a form on another site cannot post for a signed-in user.
"use strict";

function formBody(form) {
    const body = {};
    for (const [key, value] of new FormData(form)) {
        if (typeof value === "string" && value.trim() !== "") body[key] = value;
    }
    return body;
}

function describe(action, answer) {
    if (action === "ack") return `Acknowledged: ${answer.acknowledged} history row(s) marked reviewed.`;
    const accepted = (answer.accepted || []).map((r) => `${r.setting} = ${r.after}`);
    return accepted.length ? `Accepted as the baseline: ${accepted.join("; ")}.` : "Nothing to accept: it already matches.";
}

async function submitReview(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const result = form.querySelector(".result");
    const button = form.querySelector("button[type=submit]");
    const action = form.classList.contains("ack") ? "ack" : "accept";
    button.disabled = true;
    result.className = "result";
    result.textContent = "Sending…";
    try {
        const response = await fetch(form.action, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-Drift-Console": "1" },
            body: JSON.stringify(formBody(form)),
        });
        const answer = await response.json().catch(() => ({}));
        if (response.ok) {
            result.classList.add("ok");
            result.textContent = describe(action, answer) + " Reload the page to see the finding's state.";
        } else {
            result.classList.add("failed");
            result.textContent = `Refused (${response.status}): ${answer.error || response.statusText}`;
            button.disabled = false;
        }
    } catch (err) {
        result.classList.add("failed");
        result.textContent = `Could not reach the review route: ${err}`;
        button.disabled = false;
    }
}

document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.review")) form.addEventListener("submit", submitReview);
});
