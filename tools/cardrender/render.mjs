// Render Adaptive Cards the way a browser does: the official `adaptivecards` 3.x renderer in
// headless Debian Chromium (/usr/bin/chromium), parsed for the version Teams Workflows renders (1.4).
//
//   node render.mjs IN_DIR OUT_DIR
//
// For every IN_DIR/*.json card: parse it with a SerializationContext targeting 1.4, collect every
// parse event (unknown or newer element/action types, unsupported properties, bad values) and every
// validation failure, render it into a 480px-wide Teams-like host and screenshot it to
// OUT_DIR/<name>.png. OUT_DIR/report.json maps each name to
//   {"warnings": [...], "errors": [...], "version": "...", "width": px, "height": px,
//    "text": what a reader sees (one line per block), "links": hrefs of <a> in the body,
//    "overflow": text that runs into the right padding or past the card's edge,
//    "expandedText": what a reader sees after pressing every Action.ToggleVisibility button once
//    (null when the card has none; then OUT_DIR/<name>-expanded.png shows it),
//    "blockedRequests": [...], "renderMs": ms}.
// warnings: parse events for the 1.4 target (e.g. "UnknownElementType: ..." for a 1.5 Table,
// "UnsupportedProperty: ...", "UnknownActionType: ..." for actions Workflows cards cannot use).
// errors: validation failures, a card version newer than 1.4 (the renderer draws it anyway,
// Teams Workflows does not), render failures and page errors/console warnings.
// The exit code is non-zero only when the harness itself crashes; the caller judges the report.
//
// Nothing is fetched: the page is about:blank, the library is inlined from node_modules and every
// http(s) request a card makes (images, ...) is aborted and listed under "blockedRequests".

import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CARDRENDER_CHROMIUM || "/usr/bin/chromium";
const WIDTH = Number(process.env.CARDRENDER_WIDTH || 480); // px; e.g. 360 for a phone-sized look
const TARGET_VERSION = "1.4";
// What a Teams Workflows ("Send webhook alerts to a channel") card may use as actions.
const ALLOWED_ACTIONS = ["Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"];

// A Teams-like light theme (values approximate the Teams desktop client, not copied from it).
const FONT_STACK = "'Segoe UI', 'Segoe UI Web (West European)', -apple-system, BlinkMacSystemFont, Roboto, " +
    "'Helvetica Neue', 'Liberation Sans', Arial, sans-serif";
const colors = (subtleAlpha) => ({
    default: { default: "#242424", subtle: "#616161" },
    dark: { default: "#252424", subtle: "#605E5C" },
    light: { default: "#FFFFFF", subtle: "#E1DFDD" },
    accent: { default: "#5B5FC7", subtle: `#${subtleAlpha}5B5FC7` },
    good: { default: "#237B4B", subtle: `#${subtleAlpha}237B4B` },
    warning: { default: "#9D6500", subtle: `#${subtleAlpha}9D6500` },
    attention: { default: "#C4314B", subtle: `#${subtleAlpha}C4314B` },
});
const HOST_CONFIG = {
    supportsInteractivity: true,
    fontTypes: {
        default: {
            fontFamily: FONT_STACK,
            fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
            fontWeights: { lighter: 200, default: 400, bolder: 600 },
        },
        monospace: {
            fontFamily: "Consolas, 'Courier New', 'DejaVu Sans Mono', 'Liberation Mono', monospace",
            fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
            fontWeights: { lighter: 200, default: 400, bolder: 600 },
        },
    },
    spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
    separator: { lineThickness: 1, lineColor: "#E0E0E0" },
    imageSizes: { small: 32, medium: 52, large: 100 },
    containerStyles: {
        default: { backgroundColor: "#FFFFFF", foregroundColors: colors("B3") },
        emphasis: { backgroundColor: "#F5F5F5", foregroundColors: colors("B3") },
        accent: { backgroundColor: "#E8EBFA", foregroundColors: colors("B3") },
        good: { backgroundColor: "#E7F2DA", foregroundColors: colors("B3") },
        attention: { backgroundColor: "#FCF4F6", foregroundColors: colors("B3") },
        warning: { backgroundColor: "#FBF6D9", foregroundColors: colors("B3") },
    },
    actions: {
        maxActions: 6, spacing: "default", buttonSpacing: 8, showCard: { actionMode: "inline", inlineTopMargin: 16 },
        actionsOrientation: "horizontal", actionAlignment: "left",
    },
    adaptiveCard: { allowCustomStyle: false },
    factSet: {
        title: { color: "default", size: "default", isSubtle: false, weight: "bolder", wrap: true, maxWidth: 150 },
        value: { color: "default", size: "default", isSubtle: false, weight: "default", wrap: true },
        spacing: 12,
    },
};

const PAGE_CSS = `
  html, body { margin: 0; padding: 0; background: #F5F5F5; }
  #host { width: ${WIDTH}px; box-sizing: border-box; padding: 0; margin: 8px; background: #FFFFFF;
          border: 1px solid #E0E0E0; border-radius: 4px; overflow: hidden; }
  #host p { margin: 0; }
  #host ul, #host ol { margin: 0; padding-left: 20px; }
  #host a { color: #5B5FC7; }
  .ac-pushButton { font-family: ${FONT_STACK}; font-size: 14px; font-weight: 600; color: #242424;
                   background: #FFFFFF; border: 1px solid #D1D1D1; border-radius: 4px; padding: 5px 12px;
                   min-height: 32px; cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
`;

// Runs in the page: parse, validate and render one card into #host.
function renderInPage({ card: json, target, allowedActions, hostConfig }) {
    const AC = window.AdaptiveCards;
    const host = document.getElementById("host");
    host.innerHTML = "";
    const warnings = [];
    const errors = [];
    const eventName = (e) => AC.ValidationEvent[e.event] ?? String(e.event);
    const describe = (e) => `${eventName(e)}: ${e.message}`;

    const targetVersion = AC.Versions[`v${target.replace(".", "_")}`]; // "1.4" -> Versions.v1_4
    const context = new AC.SerializationContext(targetVersion);
    // Only the actions Teams Workflows cards support: anything else is an UnknownActionType event.
    const actions = new AC.CardObjectRegistry();
    AC.GlobalRegistry.populateWithDefaultActions(actions);
    const registered = Array.from({ length: actions.getItemCount() }, (_, i) => actions.getItemAt(i).typeName);
    for (const name of registered) {
        if (!allowedActions.includes(name)) actions.unregister(name);
    }
    context.setActionRegistry(actions);

    const card = new AC.AdaptiveCard();
    card.hostConfig = new AC.HostConfig(hostConfig);
    card.parse(json, context);
    for (let i = 0; i < context.eventCount; i++) warnings.push(describe(context.getEventAt(i)));

    const validation = card.validateProperties();
    for (const e of validation.validationEvents) errors.push(describe(e));

    const version = card.version ? card.version.toString() : null;
    const declared = typeof json.version === "string" ? json.version : null;
    if (!declared) {
        errors.push("MissingVersion: the card declares no version");
    } else if (card.version && card.version.compareTo(targetVersion) > 0) {
        // The renderer happily renders newer cards; Teams Workflows refuses them outright.
        errors.push(`UnsupportedCardVersion: card version ${declared} is newer than ${target}, ` +
            "the version Teams Workflows renders (it shows \"card couldn't be displayed\")");
    }

    const rendered = card.render();
    if (!rendered) {
        errors.push("RenderFailed: card.render() returned nothing");
    } else {
        host.appendChild(rendered);
    }
    // What a reader sees, one line per block, and every link a reader could click in the body.
    const text = host.innerText.split("\n").map((line) => line.replace(/\s+/g, " ").trim()).filter(Boolean).join("\n");
    const links = Array.from(host.querySelectorAll("a[href]"), (a) => a.getAttribute("href"));
    // Text that runs into the card's right padding or past its edge (long unbreakable values).
    const overflow = [];
    if (rendered) {
        const limit = rendered.getBoundingClientRect().right - hostConfig.spacing.padding + 0.5;
        const walker = document.createTreeWalker(rendered, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim() || node.parentElement.closest("button")) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            const right = Math.max(...Array.from(range.getClientRects(), (r) => r.right));
            if (right > limit) {
                overflow.push(`${Math.ceil(right - limit)}px past the padding: ${node.textContent.trim().slice(0, 80)}`);
            }
        }
    }
    return { warnings, errors, version, text, links, overflow };
}

async function main() {
    const [inDir, outDir] = process.argv.slice(2);
    if (!inDir || !outDir) {
        console.error("usage: node render.mjs IN_DIR OUT_DIR");
        process.exit(2);
    }
    await mkdir(outDir, { recursive: true });
    const names = (await readdir(inDir)).filter((f) => f.endsWith(".json")).sort();

    const started = Date.now();
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        timeout: 30_000,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const report = {};
    try {
        const page = await browser.newPage({ viewport: { width: WIDTH + 16, height: 800 }, deviceScaleFactor: 1 });
        let blocked = [];
        const pageErrors = [];
        await page.route(/^https?:|^wss?:|^ftp:/, (route) => {
            blocked.push(route.request().url());
            return route.abort();
        });
        page.on("pageerror", (err) => pageErrors.push(`PageError: ${err.message}`));
        page.on("console", (msg) => {
            if (msg.type() === "error" || msg.type() === "warning") pageErrors.push(`Console ${msg.type()}: ${msg.text()}`);
        });
        await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><style>${PAGE_CSS}</style></head>` +
            `<body><div id="host"></div></body></html>`);
        await page.addStyleTag({ path: require.resolve("adaptivecards/dist/adaptivecards.css") });
        await page.addScriptTag({ path: require.resolve("markdown-it/browser") });
        await page.addScriptTag({ path: require.resolve("adaptivecards/dist/adaptivecards.min.js") });
        await page.evaluate(() => {
            // Teams renders a subset of markdown (bold, italic, lists, links); no raw HTML.
            const md = window.markdownit({ html: false, linkify: false, typographer: false, breaks: false });
            md.disable(["heading", "lheading", "table", "code", "fence", "blockquote", "hr", "image",
                        "strikethrough", "html_block", "html_inline"]);
            window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
                result.outputHtml = md.render(text);
                result.didProcess = true;
            };
        });
        const setupMs = Date.now() - started;

        for (const file of names) {
            const name = path.basename(file, ".json");
            const t0 = Date.now();
            blocked = [];
            pageErrors.length = 0;
            let card;
            try {
                card = JSON.parse(await readFile(path.join(inDir, file), "utf8"));
            } catch (err) {
                report[name] = { warnings: [], errors: [`InvalidJson: ${err.message}`], version: null, width: 0,
                                 height: 0, blockedRequests: [], text: "", links: [], overflow: [], expandedText: null,
                                 renderMs: 0 };
                continue;
            }
            let result;
            try {
                result = await page.evaluate(renderInPage, {
                    card, target: TARGET_VERSION, allowedActions: ALLOWED_ACTIONS, hostConfig: HOST_CONFIG,
                });
            } catch (err) {
                result = { warnings: [], errors: [`RendererException: ${err.message.split("\n")[0]}`],
                           version: null, text: "", links: [], overflow: [] };
            }
            await page.evaluate(() => document.fonts.ready);
            const host = page.locator("#host");
            const box = await host.boundingBox();
            await host.screenshot({ path: path.join(outDir, `${name}.png`), animations: "disabled" });
            // Press each toggle (the renderer gives its button aria-controls, the ids it shows and hides).
            const expandedText = await page.evaluate(() => {
                const host = document.getElementById("host");
                const toggles = Array.from(host.querySelectorAll("button[aria-controls]"));
                toggles.forEach((button) => button.click());
                return toggles.length ? host.innerText.split("\n").map((line) => line.replace(/\s+/g, " ").trim())
                    .filter(Boolean).join("\n") : null;
            });
            if (expandedText !== null) {
                await host.screenshot({ path: path.join(outDir, `${name}-expanded.png`), animations: "disabled" });
            }
            report[name] = {
                warnings: result.warnings,
                errors: [...result.errors, ...pageErrors],
                version: result.version,
                width: box ? Math.round(box.width) : 0,
                height: box ? Math.round(box.height) : 0,
                blockedRequests: [...blocked],
                text: result.text,
                links: result.links,
                overflow: result.overflow,
                expandedText,
                renderMs: Date.now() - t0,
            };
        }
        console.log(`rendered ${names.length} card(s) with Chromium ${browser.version()} for Adaptive Cards ` +
            `${TARGET_VERSION}: browser setup ${setupMs} ms, total ${Date.now() - started} ms`);
    } finally {
        await browser.close();
    }
    await writeFile(path.join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
}

main().catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
});
