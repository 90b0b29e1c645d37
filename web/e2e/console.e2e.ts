// The console in a real browser against a real `eventflow dev`.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { freshTenant, launch, openPage, signInWithDevToken, tabShowsFocus, unlabelledControls, type TestPage } from "./harness";

let browser: Browser;
let tp: TestPage | undefined;

beforeAll(async () => {
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  const problems = tp?.problems ?? [];
  await tp?.close();
  tp = undefined;
  expect(problems, "the browser reported errors").toEqual([]);
});

async function start(name: string): Promise<TestPage> {
  tp = await openPage(browser, name);
  return tp;
}

describe("EventFlow console", () => {
  it("has a label check that finds unlabelled controls (run on every page photographed)", async () => {
    const { page } = await start("label check");
    await page.setContent(
      '<label for="a">A</label><input id="a"><input id="b" placeholder="no label"><button aria-label="x"></button><button></button>' +
        '<table><caption>c</caption></table><table></table><a href="/">home</a>',
    );
    const found = await unlabelledControls(page);
    expect(found).toEqual(['<input id="b" placeholder="no label">', "<button></button>", "<table></table>"]);
  });

  it("sends an invalid token back to the login page with a message", async () => {
    const { page, shot, expectHttpError } = await start("invalid token");
    expectHttpError(401, "/v1/");
    await page.goto("/");
    await page.getByRole("heading", { name: "Sign in with a token" }).waitFor();
    await shot("login");
    await page.getByLabel("Bearer token").fill("not-a-real-token");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    const alert = page.getByRole("alert").filter({ hasText: "Signed out" });
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/token was rejected/);
    expect(new URL(page.url()).pathname).toBe("/login");
    await shot("rejected");
  });

  it("checks the form beside the fields, and shows the API's own refusal", async () => {
    const { page, shot, expectHttpError } = await start("form validation");
    await signInWithDevToken(page, freshTenant("e2e-form"));
    await page.getByRole("link", { name: "New function" }).click();
    await page.getByRole("heading", { name: "New function" }).waitFor();

    // Client side: the name rule and the image-or-command rule, beside the fields.
    await page.getByLabel("Name", { exact: true }).fill("Bad_Name");
    await page.getByRole("button", { name: "Create function" }).click();
    const nameError = page.locator("#name-error");
    await nameError.waitFor();
    expect(await nameError.textContent()).toContain("Lower-case letters");
    expect(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#command-error").textContent()).toBe("An image or a command is required");
    await shot("client-validation");

    // Server side: EVENTFLOW_* variables are the platform's; the schema allows the name, the API refuses it.
    await page.getByLabel("Name", { exact: true }).fill("refused");
    await page.getByLabel("Command line").fill("cat");
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Name of variable 1").fill("EVENTFLOW_SECRET");
    await page.getByLabel("Value of variable 1").fill("x");
    await nameError.waitFor({ state: "detached" });
    expectHttpError(400, "/v1/functions");
    await page.getByRole("button", { name: "Create function" }).click();
    const refusal = page.getByRole("alert").filter({ hasText: "The API refused the function" });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('env: "EVENTFLOW_SECRET" is reserved');
    expect(await page.locator("#env-error").textContent()).toContain("is reserved");
    expect(new URL(page.url()).pathname).toBe("/functions/new");
    await shot("api-refusal");

    // Without the variable it is accepted; a second function may not take its name:
    // the create is conditional (If-None-Match: *) and the API's 412 shows beside the name.
    await page.getByRole("button", { name: "Remove variable 1" }).click();
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { name: "refused", level: 1 }).waitFor();
    await page.getByRole("link", { name: "Functions" }).first().click();
    await page.getByRole("rowheader", { name: "refused" }).waitFor();
    await page.getByRole("link", { name: "New function" }).click();
    await page.getByLabel("Name", { exact: true }).fill("refused");
    await page.getByLabel("Command line").fill("cat");
    expectHttpError(412, "/v1/functions");
    await page.getByRole("button", { name: "Create function" }).click();
    await nameError.waitFor();
    expect(await nameError.textContent()).toBe('function "refused" already exists; replace it with POST /v1/functions without If-None-Match: *, or PUT /v1/functions/refused');
    expect(new URL(page.url()).pathname).toBe("/functions/new");
    await shot("duplicate-name");
  });

  it("creates a function, sees it Ready, invokes it, follows its logs and history, and deletes it", async () => {
    const { page, shot } = await start("journey");
    await signInWithDevToken(page, freshTenant("e2e"));
    await page.getByRole("heading", { name: "No functions yet" }).waitFor();
    await shot("dashboard-empty");

    // Create: a job whose stderr becomes log lines and whose stdout is the answer.
    await page.getByRole("link", { name: "Create your first function" }).click();
    await page.getByLabel("Name", { exact: true }).fill("shout");
    await page.getByLabel("Command line").fill("sh -c 'echo hello-from-fn >&2; tr a-z A-Z'");
    const chips = page.getByRole("list", { name: "Arguments (argv)" }).getByRole("listitem");
    await chips.nth(2).waitFor();
    expect(await chips.allTextContents()).toEqual(["argument 1: sh", "argument 2: -c", "argument 3: echo hello-from-fn >&2; tr a-z A-Z"]);
    await page.getByLabel("Timeout").fill("20s");
    await shot("create-form");
    await page.getByRole("button", { name: "Create function" }).click();

    // Details: Ready, by events or polling.
    await page.getByRole("heading", { name: "shout", level: 1 }).waitFor();
    const status = page.getByRole("region", { name: "Status" });
    await status.getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });

    // Invoke synchronously and read the output.
    await page.getByLabel("Payload").fill("hello console");
    await page.getByRole("button", { name: "Invoke", exact: true }).click();
    const output = page.getByTestId("invoke-output");
    await output.filter({ hasText: "HELLO CONSOLE" }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("invoke-status").textContent()).toBe("200");
    expect(await page.getByTestId("invoke-duration").textContent()).toMatch(/ms|s/);

    // Its stderr arrives in the live logs.
    await page.getByTestId("log-line").filter({ hasText: "hello-from-fn" }).first().waitFor({ timeout: 20_000 });

    // History: the invocation, succeeded, with a duration.
    const history = page.getByRole("table", { name: /Invocation history/ });
    await history.getByRole("row").filter({ hasText: "succeeded" }).first().waitFor({ timeout: 20_000 });

    // Async: queued, then followed to the end.
    await page.getByLabel("Async (queue it)").check();
    await page.getByLabel("Payload").fill("later");
    await page.getByRole("button", { name: "Invoke", exact: true }).click();
    await page.getByTestId("async-status").filter({ hasText: "succeeded" }).waitFor({ timeout: 30_000 });
    await output.filter({ hasText: "LATER" }).waitFor();
    await history.getByRole("row").filter({ hasText: "async" }).first().waitFor({ timeout: 20_000 });

    // Log controls: paused, new lines are held back and counted; resumed, they show.
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByLabel("Sync (wait for the answer)").check();
    await page.getByLabel("Payload").fill("while paused");
    await page.getByRole("button", { name: "Invoke", exact: true }).click();
    await output.filter({ hasText: "WHILE PAUSED" }).waitFor({ timeout: 30_000 });
    const resume = page.getByRole("button", { name: /^Resume \(\d+ new\)$/ });
    await resume.waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("log-line").filter({ hasText: "WHILE PAUSED" }).count()).toBe(0);
    await resume.click();
    await page.getByTestId("log-line").filter({ hasText: "WHILE PAUSED" }).waitFor();
    // Search narrows, clear empties.
    await page.getByLabel("Search logs").fill("no-such-line");
    await page.getByText("No line matches.").waitFor();
    await page.getByLabel("Search logs").fill("");
    await page.getByRole("button", { name: "Clear" }).click();
    await page.getByText("Cleared; new lines will show here.").waitFor();
    await page.getByRole("region", { name: "Events" }).getByText("function.ready").first().waitFor({ timeout: 20_000 });
    await shot("details");

    // Edit: a new timeout makes a new generation, applied and Ready again.
    await page.getByRole("link", { name: "Edit" }).click();
    await page.getByRole("heading", { name: "Edit shout" }).waitFor();
    expect(await page.getByRole("textbox", { name: "Program" }).inputValue()).toBe("sh");
    await page.getByLabel("Timeout").fill("25s");
    await shot("edit-form");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "shout", level: 1 }).waitFor();
    await status.getByTestId("timeout").filter({ hasText: "25s" }).waitFor();
    await status.getByText("generation 2 observed").waitFor({ timeout: 30_000 });
    await status.getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });

    // Dashboard: a row for it, Ready, found by search.
    await page.getByRole("link", { name: "Functions" }).first().click();
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "shout" }) });
    await row.getByTestId("phase").filter({ hasText: "Ready" }).waitFor();
    expect(await row.textContent()).toContain("job");
    await page.getByLabel("Search functions by name").fill("sho");
    await row.waitFor();
    await page.getByLabel("Search functions by name").fill("zzz");
    await page.getByText("No function name contains").waitFor();
    await page.getByLabel("Search functions by name").fill("");
    await shot("dashboard");

    // Keyboard: each of the page's eight controls (skip link, home link, the Functions and Secrets
    // sections, sign out, search, new function, the row's link) is reached with Tab and shows where the focus is.
    await page.reload(); // the focus navigation starts at the top of the page
    await row.getByTestId("phase").waitFor();
    for (let i = 0; i < 8; i++) {
      const focus = await tabShowsFocus(page);
      expect(focus.outline, `focus on ${focus.element}`).not.toBe("none");
      if (i === 0) expect(focus.element).toContain('href="#main"');
    }

    // Delete, confirmed in a labelled dialog; then it goes away from the dashboard.
    await row.getByRole("link", { name: "shout" }).click();
    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete shout?" });
    await dialog.waitFor();
    await shot("delete-dialog");
    await dialog.getByRole("button", { name: "Delete function" }).click();
    await page.getByRole("heading", { name: "Functions", exact: true }).waitFor();
    await page.getByRole("heading", { name: "No functions yet" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("rowheader", { name: "shout" }).count()).toBe(0);
    await shot("dashboard-after-delete");
  });

  it("keeps a secret write-only, names it in a function, and rolls the function back to an earlier revision", async () => {
    const { page, shot } = await start("secrets and revisions");
    await signInWithDevToken(page, freshTenant("e2e-sr"));
    // A value no page may ever contain: not as text, not in an attribute.
    const VALUE = `e2e-secret-${Date.now().toString(36)}-never-shown`;
    const neverShown = async (where: string) => expect((await page.content()).includes(VALUE), `the secret's value in the HTML of ${where}`).toBe(false);

    // The Secrets page: create one from the password field, which is emptied once sent.
    await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Secrets" }).click();
    await page.getByRole("heading", { name: "Secrets", level: 1 }).waitFor();
    await page.getByText("No secrets yet").waitFor();
    await page.getByLabel("Secret name").fill("api-key");
    const value = page.getByLabel("Value", { exact: true });
    expect(await value.getAttribute("type")).toBe("password");
    await value.fill(VALUE);
    await neverShown("the secrets page while typing");
    await page.getByRole("button", { name: "Create secret" }).click();
    // Versions change whenever the value does; they need not start at 1.
    const saved = page.getByTestId("secret-answer").filter({ hasText: /^Saved api-key: version \d+\.$/ });
    await saved.waitFor();
    const version = /version (\d+)/.exec((await saved.textContent()) ?? "")?.[1];
    expect(await value.inputValue()).toBe("");
    const secretRow = page.getByRole("table", { name: "Secrets, by name" }).getByRole("row").filter({ has: page.getByRole("rowheader", { name: "api-key" }) });
    await secretRow.waitFor();
    expect(await secretRow.getByTestId("secret-version").textContent()).toBe(version);
    expect(await secretRow.getByRole("cell").nth(1).textContent()).toBe(`${VALUE.length} B`);
    await neverShown("the secrets page");
    await shot("secrets");

    // A function naming it, picked in the form's Secrets; it reads the secret's file (and answers only its length).
    await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Functions" }).click();
    await page.getByRole("link", { name: "Create your first function" }).click();
    await page.getByLabel("Name", { exact: true }).fill("reader");
    await page.getByLabel("Command line").fill(`sh -c 'cat "$EVENTFLOW_SECRETS_DIR/api-key" | wc -c'`);
    await page.getByLabel("Timeout").fill("20s");
    await page.getByLabel("Add a secret").fill("api-key");
    await page.getByRole("button", { name: "Add secret" }).click();
    await page.getByRole("list", { name: "Secrets the function reads" }).getByRole("listitem").filter({ hasText: "api-key" }).waitFor();
    await shot("create-form-with-secret");
    await page.getByRole("button", { name: "Create function" }).click();
    await page.getByRole("heading", { name: "reader", level: 1 }).waitFor();
    const status = page.getByRole("region", { name: "Status" });
    await status.getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Invoke", exact: true }).click();
    await page.getByTestId("invoke-output").filter({ hasText: new RegExp(`^\\s*${VALUE.length}\\s*$`) }).waitFor({ timeout: 30_000 });

    // Update it: a new timeout is revision 2.
    await page.getByRole("link", { name: "Edit" }).click();
    await page.getByRole("heading", { name: "Edit reader" }).waitFor();
    await page.getByRole("list", { name: "Secrets the function reads" }).getByRole("listitem").filter({ hasText: "api-key" }).waitFor();
    await page.getByLabel("Timeout").fill("25s");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "reader", level: 1 }).waitFor();
    await status.getByText("generation 2 observed").waitFor({ timeout: 30_000 });

    // Its revisions: 2 (current) and 1, and the diff of their specs shows the timeout's change.
    const panel = page.getByRole("region", { name: "Revisions" });
    const revRows = panel.getByRole("table", { name: "Revisions, newest first" }).locator("tbody tr");
    await revRows.nth(1).waitFor({ timeout: 20_000 });
    expect(await revRows.count()).toBe(2);
    expect(await revRows.nth(0).getByRole("rowheader").textContent()).toBe("2current");
    expect(await revRows.nth(0).getByTestId("revision-cause").textContent()).toBe("updated");
    expect(await revRows.nth(1).getByTestId("revision-cause").textContent()).toBe("created");
    const diff = panel.getByRole("group", { name: "Spec of revision 1 against revision 2" });
    await diff.locator('[data-diff="del"]').filter({ hasText: '"timeout": "20s"' }).waitFor();
    await diff.locator('[data-diff="add"]').filter({ hasText: '"timeout": "25s"' }).waitFor();
    expect(await panel.getByTestId("diff-stats").textContent()).toBe("1 line added, 1 removed");
    await panel.scrollIntoViewIfNeeded();
    await shot("revisions");

    // Roll back to revision 1, confirmed: revision 3, caused by the rollback, is current, with the old timeout.
    await revRows.nth(1).getByRole("button", { name: "Roll back to this revision: revision 1" }).click();
    const dialog = page.getByRole("dialog", { name: "Roll back reader to revision 1?" });
    await dialog.waitFor();
    await shot("rollback-dialog");
    await dialog.getByRole("button", { name: "Roll back" }).click();
    await dialog.waitFor({ state: "detached" });
    await panel.getByTestId("rollback-answer").filter({ hasText: "Rolled back to revision 1: the function is now at revision 3." }).waitFor();
    await revRows.nth(2).waitFor({ timeout: 20_000 });
    expect(await revRows.nth(0).getByRole("rowheader").textContent()).toBe("3current");
    expect(await revRows.nth(0).getByTestId("revision-cause").textContent()).toBe("rolled back");
    await status.getByTestId("timeout").filter({ hasText: "20s" }).waitFor();
    await status.getByText("generation 3 observed").waitFor({ timeout: 30_000 });
    await panel.getByRole("group", { name: "Spec of revision 2 against revision 3" }).locator('[data-diff="add"]').filter({ hasText: '"timeout": "20s"' }).waitFor();
    await neverShown("the function's page");
    await shot("rolled-back");

    // The secret lists the function using it; its value is still nowhere.
    await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Secrets" }).click();
    await secretRow.getByTestId("secret-used-by").getByRole("link", { name: "reader" }).waitFor();
    await neverShown("the secrets page at the end");
  });

  it("lists an async invocation that failed its only attempt under Dead letters, and redrives it", async () => {
    const { page, shot } = await start("dead letters");
    await signInWithDevToken(page, freshTenant("e2e-dl"));
    // The form has no retry policy fields: the function is created through the API, with the console's token.
    const created = await page.evaluate(async () => {
      const res = await fetch("/v1/functions", {
        method: "POST",
        headers: { Authorization: `Bearer ${sessionStorage.getItem("eventflow.token") ?? ""}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "doomed", command: ["sh", "-c", "exit 3"], invocation: { mode: "job", retry: { maxAttempts: 1 } } }),
      });
      return res.status;
    });
    expect(created).toBe(202);
    await page.goto("/functions/doomed");
    await page.getByRole("region", { name: "Status" }).getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });
    const panel = page.getByRole("region", { name: "Dead letters" });
    await panel.getByText("No dead letters").waitFor();

    await page.getByLabel("Async (queue it)").check();
    await page.getByRole("button", { name: "Invoke", exact: true }).click();
    await page.getByTestId("async-status").filter({ hasText: "dead_lettered" }).waitFor({ timeout: 30_000 });
    // A fresh tenant's only function: the table's one body row is this invocation, after its one attempt.
    const row = panel.getByRole("table", { name: "Dead letters, oldest first" }).locator("tbody tr");
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getByRole("cell").first().textContent()).toBe("1");
    expect(await row.getByRole("cell").nth(1).textContent()).toBe("exit code 3");
    await shot("dead-letters");
    await row.getByRole("button", { name: /^Redrive …/ }).click();
    await panel.getByRole("status").filter({ hasText: "Redriven 1 invocation: queued again." }).waitFor();
    // It fails again: its second attempt (the count goes on) shows in the history and back in the dead letters.
    const history = page.getByRole("table", { name: /Invocation history/ }).locator("tbody tr");
    await history.getByRole("cell").nth(2).filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 });
    await row.getByRole("cell").first().filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 });
  });
  it("shows an http function's route and a cron trigger firing, and the route answers without a token when public", async () => {
    const { page, shot } = await start("triggers and route");
    const tenant = freshTenant("e2e-tr");
    await signInWithDevToken(page, tenant);
    // Triggers and the route's auth mode are set through the API, with the console's token.
    const created = await page.evaluate(async () => {
      const res = await fetch("/v1/functions", {
        method: "POST",
        headers: { Authorization: `Bearer ${sessionStorage.getItem("eventflow.token") ?? ""}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          name: "ticker",
          command: ["node", "-e", 'require("http").createServer((q,s)=>{q.resume();s.end("hi "+q.method+" "+q.url)}).listen(process.env.PORT)'],
          invocation: { mode: "http" },
          http: { auth: "public" },
          triggers: [{ type: "cron", schedule: "@every 1s", body: "tick" }],
        }),
      });
      return res.status;
    });
    expect(created).toBe(202);
    await page.goto("/functions/ticker");
    await page.getByRole("region", { name: "Status" }).getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });

    const route = page.getByRole("region", { name: "HTTP route" });
    const url = (await route.getByTestId("route-url").textContent()) ?? "";
    expect(url).toMatch(new RegExp(`/fn/${tenant}/ticker/$`));
    expect(await route.getByTestId("route-auth").textContent()).toMatch(/public/i);
    // Public: the route answers with no token at all.
    const answer = await page.evaluate(async (u) => {
      const res = await fetch(u + "hello?x=1", { method: "PUT", body: "x" });
      return `${res.status} ${await res.text()}`;
    }, url);
    expect(answer).toBe("200 hi PUT /hello?x=1");

    // The cron trigger's row: its fires count goes up as ticks are invoked, and its next fires are listed.
    const row = page.getByRole("region", { name: "Triggers" }).locator("tbody tr").first();
    await row.getByRole("cell").nth(1).filter({ hasText: /^[1-9][0-9]*$/ }).waitFor({ timeout: 30_000 });
    await row.getByRole("list", { name: "Next fires" }).waitFor();
    expect(await row.getByRole("rowheader").textContent()).toBe("cron");
    await shot("triggers");
  });

  it("shows an http function's instances ready/desired, its scale bounds and the scaler's decisions, from one to zero and back", async () => {
    const { page, shot } = await start("scaling");
    const tenant = freshTenant("e2e-sc");
    await signInWithDevToken(page, tenant);
    // min 0 and a short idleAfter: it starts with one instance, idles down to zero, and a route request wakes it.
    const created = await page.evaluate(async () => {
      const res = await fetch("/v1/functions", {
        method: "POST",
        headers: { Authorization: `Bearer ${sessionStorage.getItem("eventflow.token") ?? ""}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          name: "sleepy",
          command: ["node", "-e", 'require("http").createServer((q,s)=>{q.resume();s.end("awake "+q.url)}).listen(process.env.PORT)'],
          invocation: { mode: "http", timeout: "30s" },
          scale: { min: 0, max: 2, idleAfter: "3s" },
        }),
      });
      return res.status;
    });
    expect(created).toBe(202);
    await page.goto("/functions/sleepy");
    const panel = page.getByRole("region", { name: "Scaling" });
    await panel.waitFor();
    expect(await panel.getByTestId("scale-bounds").textContent()).toBe("0–2 instances");
    expect(await panel.getByTestId("scale-policy").textContent()).toMatch(/to zero after 3s idle/);

    // Idle: the scaler takes it to zero, and says so with a reason and a time.
    await panel.getByTestId("scale-last").filter({ hasText: /→ 0$/ }).waitFor({ timeout: 60_000 });
    await panel.getByTestId("scale-instances").filter({ hasText: /^0\/0$/ }).waitFor({ timeout: 30_000 });
    expect((await panel.getByTestId("scale-reason").textContent())?.trim()).not.toBe("");
    expect(await panel.getByTestId("scale-at").getAttribute("datetime")).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    await shot("scaled-to-zero");

    // A request to the route is held while the function wakes, then answered.
    const answer = await page.evaluate(async (t) => {
      const res = await fetch(`/fn/${t}/sleepy/hi`, {
        headers: { Authorization: `Bearer ${sessionStorage.getItem("eventflow.token") ?? ""}` },
      });
      return `${res.status} ${await res.text()}`;
    }, tenant);
    expect(answer).toBe("200 awake /hi");
    await panel.getByTestId("scale-last").filter({ hasText: /^0 → [12]$/ }).waitFor({ timeout: 30_000 });
    await panel.getByTestId("scale-instances").filter({ hasText: /^[12]\/[12]$/ }).waitFor({ timeout: 30_000 });
    await shot("woken");
  });

  it("follows an http function's gradual rollout on its page, from the update to complete at 100%", async () => {
    const { page, shot } = await start("rollout");
    const tenant = freshTenant("e2e-ro");
    await signInWithDevToken(page, tenant);
    const put = (method: "POST" | "PUT", v: string) =>
      page.evaluate(
        async ({ method, v }) => {
          const res = await fetch(method === "POST" ? "/v1/functions" : "/v1/functions/canary", {
            method,
            headers: { Authorization: `Bearer ${sessionStorage.getItem("eventflow.token") ?? ""}`, "Content-Type": "application/json" },
            body: JSON.stringify({
              name: "canary",
              command: ["node", "-e", 'require("http").createServer((q,s)=>{q.resume();s.end("v"+process.env.V)}).listen(process.env.PORT)'],
              invocation: { mode: "http" },
              env: { V: v },
              rollout: { stepPercent: 50, interval: "1s" },
            }),
          });
          return res.status;
        },
        { method, v },
      );
    // The first revision takes over at once: no rollout to show.
    expect(await put("POST", "1")).toBe(202);
    await page.goto("/functions/canary");
    await page.getByRole("region", { name: "Status" }).getByTestId("phase").filter({ hasText: "Ready" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("region", { name: "Rollout" }).count()).toBe(0);

    // An update of what runs (its env) is rolled out: 50%, then 100% a second later, and the page follows it live.
    expect(await put("PUT", "2")).toBe(202);
    const block = page.getByRole("region", { name: "Rollout" });
    await block.waitFor({ timeout: 30_000 });
    await block.getByTestId("rollout-phase").filter({ hasText: /^complete$/ }).waitFor({ timeout: 60_000 });
    expect(await block.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("100");
    expect(await block.getByTestId("rollout-summary").textContent()).toBe("revision 2 at 100% (from revision 1)");
    // Complete: the revisions no longer show a split.
    await page.getByRole("region", { name: "Revisions" }).getByRole("table", { name: "Revisions, newest first" }).waitFor();
    expect(await page.getByRole("region", { name: "Revisions" }).getByTestId("traffic-share").count()).toBe(0);
    await shot("rollout-complete");
  });
});
