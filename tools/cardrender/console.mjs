// Click through the web console as an on-call engineer would, in headless Debian Chromium
// (/usr/bin/chromium) driven by playwright-core, the way render.mjs drives it for cards.
//
//   node console.mjs PLAN.json OUT_DIR
//
// PLAN: {"url": console base URL, "server": name to click on the fleet, "finding": id of the finding to
//        open from the server page, "reason": why it is accepted, "narrowFinding": id shown at 375 px}
// Desktop (1280 px): fleet -> server (click its name) -> finding (click "open finding" in its row) ->
// Accept (fill the reason, press the button, wait for the answer) -> reload the finding -> fleet again.
// Phone (375 px): the fleet, the server and a finding.
// OUT_DIR gets one PNG per step and report.json: what each page showed (grid rows, timeline rows,
// the finding's facts, the accept answer), every request to another origin (aborted: nothing may
// come from a CDN), dialogs (a value that ran as script would open one), CSP violations, console
// errors, and at 375 px the elements wider than the screen.
// The exit code is non-zero only when the harness itself fails; the caller judges the report.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CARDRENDER_CHROMIUM || "/usr/bin/chromium";

async function instrument(context, origin, report) {
    await context.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(origin)) return route.continue();
        report.blockedRequests.push(url);
        return route.abort();
    });
    await context.addInitScript(() => {
        window.__csp = [];
        document.addEventListener("securitypolicyviolation",
            (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI || "inline"}`));
    });
    context.on("page", (page) => watch(page, report));
}

function watch(page, report) {
    page.on("dialog", (dialog) => {
        report.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
        dialog.dismiss().catch(() => {});
    });
    page.on("pageerror", (err) => report.errors.push(`PageError: ${err.message}`));
    page.on("console", (msg) => {
        if (msg.type() === "error" || msg.type() === "warning") report.errors.push(`Console ${msg.type()}: ${msg.text()}`);
    });
}

async function cspViolations(page, report) {
    report.csp.push(...await page.evaluate(() => window.__csp || []));
}

async function shot(page, outDir, name, report) {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true, animations: "disabled" });
    report.screenshots.push(`${name}.png`);
    await cspViolations(page, report);
}

// The grid: each row's server, worst badge, and each setting's cell class ("ok" when nothing is open),
// the settings named by the header's columns.
const fleetRows = (page) => page.$eval("table.grid", (table) => {
    const columns = Array.from(table.querySelectorAll("thead th"), (th) => th.innerText.trim()).slice(2);
    return Array.from(table.querySelectorAll("tbody tr"), (r) => ({
        server: r.querySelector("th").innerText.trim(),
        serverId: r.dataset.server,
        worst: r.querySelector("td .sev").innerText.trim(),
        cells: Object.fromEntries(Array.from(r.querySelectorAll("td"), (td) => td.className || "ok").slice(1)
            .map((cls, i) => [columns[i], cls])),
    }));
});

const tableRows = (page, selector) => page.$$eval(`${selector} tbody tr`, (rows) => rows.map((r) =>
    Object.fromEntries(Array.from(r.querySelectorAll("td[data-label]"), (td) => [td.dataset.label, td.innerText.trim()]))));

const facts = (page) => page.$$eval("dl.facts dt", (dts) => Object.fromEntries(dts.map((dt) => [dt.innerText.trim(), dt.nextElementSibling.innerText.trim()])));

async function overflow(page) {
    return page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wide = [];
        for (const el of document.querySelectorAll("body *")) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1 && getComputedStyle(el).display !== "none" && !el.closest(".grid-wrap")) {
                wide.push(`${el.tagName.toLowerCase()}.${el.className}: ${Math.round(box.right - width)}px past`);
            }
        }
        return { scrollWidth: document.documentElement.scrollWidth, clientWidth: width, wide: wide.slice(0, 20) };
    });
}

async function main() {
    const [planFile, outDir] = process.argv.slice(2);
    if (!planFile || !outDir) {
        console.error("usage: node console.mjs PLAN.json OUT_DIR");
        process.exit(2);
    }
    const plan = JSON.parse(await readFile(planFile, "utf8"));
    await mkdir(outDir, { recursive: true });
    const origin = new URL(plan.url).origin;
    const report = { blockedRequests: [], dialogs: [], errors: [], csp: [], screenshots: [], desktop: {}, phone: {} };
    const started = Date.now();
    const browser = await chromium.launch({
        executablePath: CHROMIUM, headless: true, timeout: 30_000,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
        const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
        await instrument(desktop, origin, report);
        const page = await desktop.newPage();
        const d = report.desktop;

        let t0 = Date.now();
        await page.goto(`${plan.url}/`, { waitUntil: "load" });
        d.fleetMs = Date.now() - t0;
        d.fleetTitle = await page.title();
        d.fleet = await fleetRows(page);
        d.summary = await page.$$eval("ul.summary li", (lis) => lis.map((li) => li.innerText.trim()));
        await shot(page, outDir, "fleet-desktop", report);

        await page.locator("table.grid tbody th a", { hasText: plan.server }).first().click();
        await page.waitForURL(/\/server\?/);
        d.serverUrl = page.url();
        d.serverHeading = (await page.locator("h1").innerText()).trim();
        d.portal = await page.locator("a.portal").getAttribute("href");
        d.timeline = await tableRows(page, "table.timeline");
        d.openFindings = await page.$$eval("table.list tr[data-finding]", (rows) => rows.map((r) => r.dataset.finding));
        await shot(page, outDir, "server-desktop", report);

        await page.locator(`tr[data-finding="${plan.finding}"] a`).first().click();
        await page.waitForURL(/\/finding\//);
        d.findingUrl = page.url();
        d.finding = await facts(page);
        d.findingHeading = (await page.locator("h1").innerText()).trim();
        await shot(page, outDir, "finding-desktop", report);

        await page.locator("form.accept textarea[name=reason]").fill(plan.reason);
        await page.locator("form.accept button[type=submit]").click();
        await page.locator("form.accept .result.ok, form.accept .result.failed").waitFor({ timeout: 20_000 });
        d.acceptResult = (await page.locator("form.accept .result").innerText()).trim();
        await shot(page, outDir, "finding-accepted-desktop", report);
        await page.reload({ waitUntil: "load" });
        d.findingAfter = await facts(page);
        d.formsAfter = await page.locator("form.review").count();
        await page.goto(`${plan.url}/`, { waitUntil: "load" });
        d.fleetAfter = await fleetRows(page);
        await desktop.close();

        const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2,
                                                 isMobile: true, hasTouch: true, ignoreHTTPSErrors: true });
        await instrument(phone, origin, report);
        const small = await phone.newPage();
        const p = report.phone;
        await small.goto(`${plan.url}/`, { waitUntil: "load" });
        p.fleet = await overflow(small);
        p.compact = await small.$$eval("ul.compact li", (lis) => lis.map((li) => li.innerText.trim()));
        await shot(small, outDir, "fleet-375", report);
        await small.locator("ul.compact li a", { hasText: plan.server }).first().click();
        await small.waitForURL(/\/server\?/);
        p.server = await overflow(small);
        await shot(small, outDir, "server-375", report);
        await small.goto(`${plan.url}/finding/${plan.narrowFinding || plan.finding}`, { waitUntil: "load" });
        p.finding = await overflow(small);
        await shot(small, outDir, "finding-375", report);
        await phone.close();
        report.chromium = browser.version();
        report.totalMs = Date.now() - started;
    } finally {
        await browser.close();
    }
    await writeFile(path.join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
}

main().catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
});
