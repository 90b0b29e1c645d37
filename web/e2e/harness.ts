// The browser side of the e2e tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), pages that fail the test on
// any console error or uncaught exception, and screenshots of each page.
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const OUTPUT = resolve(process.env.EVENTFLOW_TEST_OUTPUT ?? join(import.meta.dirname, "../../test-output/console"));

export function baseURL(): string {
  const url = process.env.EVENTFLOW_URL;
  if (!url) throw new Error("EVENTFLOW_URL is not set: point it at a running `eventflow dev`, e.g. http://127.0.0.1:8080");
  return url.replace(/\/$/, "");
}

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH); the e2e tests never download a browser`);
  }
  mkdirSync(OUTPUT, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** An HTTP error answer a step expects, which Chromium also logs as a console error. */
interface Expected {
  status: number;
  path: string;
}

export interface TestPage {
  page: Page;
  context: BrowserContext;
  /** Lets the next matching failed-resource console messages through. */
  expectHttpError: (status: number, path: string) => void;
  /** Problems seen so far: console errors and uncaught exceptions. */
  problems: string[];
  shot: (name: string) => Promise<void>;
  close: () => Promise<void>;
}

export async function openPage(browser: Browser, testName: string): Promise<TestPage> {
  const context = await browser.newContext({ baseURL: baseURL(), viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  const expected: Expected[] = [];

  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (m) {
      const path = new URL(msg.location().url || "http://x/").pathname;
      if (expected.some((e) => e.status === Number(m[1]) && path.startsWith(e.path))) return;
    }
    problems.push(`console error: ${text} (${msg.location().url}) on ${page.url()}`);
  });
  page.on("pageerror", (err) => problems.push(`uncaught exception: ${err.message}`));

  const slug = testName.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  // This test's screenshots of an earlier run would mix with this run's.
  for (const f of readdirSync(OUTPUT)) if (f.startsWith(`${slug}-`) && f.endsWith(".png")) rmSync(join(OUTPUT, f));
  let n = 0;
  return {
    page,
    context,
    problems,
    expectHttpError: (status, path) => expected.push({ status, path }),
    shot: async (name) => {
      const unlabelled = await unlabelledControls(page);
      if (unlabelled.length > 0) problems.push(`controls without a label on the ${name} page: ${unlabelled.join(" | ")}`);
      n++;
      await page.screenshot({ path: join(OUTPUT, `${slug}-${String(n).padStart(2, "0")}-${name}.png`), fullPage: true });
    },
    close: () => context.close(),
  };
}

/** A tenant of its own for each run, so runs never see each other's functions. */
export function freshTenant(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** Signs in through the login page's development-token form. */
export async function signInWithDevToken(page: Page, tenant: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel("Tenant").fill(tenant);
  await page.getByRole("button", { name: "Get a development token" }).click();
  await page.getByRole("heading", { name: "Functions", exact: true }).waitFor();
}

/**
 * Form controls, buttons and links that have no accessible name: no label,
 * aria-label(ledby), text or title. Run on every page a test photographs.
 */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const named = (el: Element): boolean => {
      const aria = el.getAttribute("aria-label")?.trim();
      if (aria) return true;
      const by = el.getAttribute("aria-labelledby");
      if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent?.trim())) return true;
      const labels = (el as HTMLInputElement).labels;
      if (labels && Array.from(labels).some((l) => l.textContent?.trim())) return true;
      if ((el.tagName === "BUTTON" || el.tagName === "A") && el.textContent?.trim()) return true;
      return Boolean(el.getAttribute("title")?.trim());
    };
    return Array.from(document.querySelectorAll("input, select, textarea, button, a[href], [role=dialog], table"))
      .filter((el) => (el as HTMLInputElement).type !== "hidden" && !(el.tagName === "TABLE" ? el.querySelector("caption")?.textContent?.trim() : named(el)))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}

/** Tabs to the next control and tells whether it shows a focus outline. */
export async function tabShowsFocus(page: Page): Promise<{ element: string; outline: string }> {
  await page.keyboard.press("Tab");
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { element: "body", outline: "none" };
    const st = getComputedStyle(el);
    return { element: el.outerHTML.slice(0, 80), outline: st.outlineStyle === "none" || st.outlineWidth === "0px" ? "none" : `${st.outlineStyle} ${st.outlineWidth}` };
  });
}
