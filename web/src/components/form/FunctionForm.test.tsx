import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { FunctionForm } from "./FunctionForm";
import { ApiError } from "../../api/errors";
import type { FunctionView, SpecInput } from "../../api/types";

function setup(existing?: FunctionView, onSave = vi.fn<(s: SpecInput) => Promise<unknown>>(async () => undefined)) {
  render(<FunctionForm existing={existing} onSave={onSave} />);
  return { onSave, user: userEvent.setup() };
}

describe("FunctionForm", () => {
  it("puts client-side messages beside the fields and does not send", async () => {
    const { onSave, user } = setup();
    await user.type(screen.getByLabelText("Name"), "Bad_Name");
    await user.clear(screen.getByLabelText("Timeout"));
    await user.type(screen.getByLabelText("Timeout"), "forever");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveAccessibleDescription(/Lower-case letters, digits and '-'/);
    expect(screen.getByLabelText("Command line")).toHaveAccessibleDescription("An image or a command is required");
    expect(screen.getByLabelText("Command line")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Timeout")).toHaveAccessibleDescription(/A duration like/);
    expect(onSave).not.toHaveBeenCalled();
  });

  it("splits a command line visibly into argv and sends the spec", async () => {
    const { onSave, user } = setup();
    await user.type(screen.getByLabelText("Name"), "shout");
    await user.type(screen.getByLabelText("Command line"), "sh -c 'echo hi >&2; cat'");
    const chips = within(screen.getByRole("list", { name: "Arguments (argv)" })).getAllByRole("listitem");
    expect(chips.map((c) => c.textContent)).toEqual(["argument 1: sh", "argument 2: -c", "argument 3: echo hi >&2; cat"]);
    await user.click(screen.getByRole("button", { name: "Add variable" }));
    await user.type(screen.getByLabelText("Name of variable 1"), "LANG");
    await user.type(screen.getByLabelText("Value of variable 1"), "C");
    await user.selectOptions(screen.getByLabelText("Mode"), "http");
    await user.clear(screen.getByLabelText("Min instances"));
    await user.type(screen.getByLabelText("Min instances"), "0");
    await user.clear(screen.getByLabelText("Max instances"));
    await user.type(screen.getByLabelText("Max instances"), "3");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0]).toEqual({
      name: "shout",
      command: ["sh", "-c", "echo hi >&2; cat"],
      env: { LANG: "C" },
      scale: { min: 0, max: 3 },
      invocation: { mode: "http", timeout: "30s" },
    });
  });

  it("edits argv one field per argument, and switching keeps the arguments", async () => {
    const { onSave, user } = setup();
    await user.type(screen.getByLabelText("Name"), "x");
    await user.type(screen.getByLabelText("Command line"), "tr a-z 'A-Z'");
    await user.click(screen.getByLabelText("One field per argument"));
    expect(screen.getByLabelText("Program")).toHaveValue("tr");
    expect(screen.getByLabelText("Argument 2")).toHaveValue("A-Z");
    await user.click(screen.getByRole("button", { name: "Remove argument 2" }));
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0].command).toEqual(["tr", "a-z"]);
  });

  it("shows the API's refusal of a taken name beside the name, and clears it when the name changes", async () => {
    const taken = 'function "upper" already exists; replace it with POST /v1/functions without If-None-Match: *, or PUT /v1/functions/upper';
    const onSave = vi.fn(async (spec: SpecInput) => {
      if (spec.name === "upper") throw new ApiError(412, "already_exists", taken);
    });
    const { user } = setup(undefined, onSave);
    await user.type(screen.getByLabelText("Name"), "upper");
    await user.type(screen.getByLabelText("Command line"), "cat");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    // The server decides: the form sends, and shows its answer.
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    const name = screen.getByLabelText("Name");
    await waitFor(() => expect(name).toHaveAccessibleDescription(taken));
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByRole("alert")).toHaveTextContent("The API refused the function");

    await user.type(name, "-2");
    await waitFor(() => expect(name).not.toHaveAttribute("aria-invalid", "true"));
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledTimes(2));
    expect(onSave.mock.calls[1]?.[0].name).toBe("upper-2");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("flags an unclosed quote and a bad variable name", async () => {
    const { onSave, user } = setup();
    await user.type(screen.getByLabelText("Name"), "x");
    await user.type(screen.getByLabelText("Command line"), "echo 'oops");
    await user.click(screen.getByRole("button", { name: "Add variable" }));
    await user.type(screen.getByLabelText("Name of variable 1"), "1BAD");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("A single quote is not closed")).toBeInTheDocument();
    expect(screen.getByLabelText("Name of variable 1")).toHaveAccessibleDescription("Letters, digits and '_', not starting with a digit");
    expect(onSave).not.toHaveBeenCalled();
  });

  it("shows the API's own refusal, and beside the field it names", async () => {
    const onSave = vi.fn(async () => {
      throw new ApiError(400, "validation_failed", 'env: "EVENTFLOW_X" is reserved: EventFlow sets PORT and EVENTFLOW_* itself');
    });
    const { user } = setup(undefined, onSave);
    await user.type(screen.getByLabelText("Name"), "x");
    await user.type(screen.getByLabelText("Command line"), "cat");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The API refused the function");
    expect(alert).toHaveTextContent('env: "EVENTFLOW_X" is reserved');
    expect(screen.getByRole("group", { name: "Environment variables" })).toHaveTextContent("is reserved");
  });

  it("edits an existing function: the name is fixed, untouched fields are kept", async () => {
    const existing: FunctionView = {
      name: "resize",
      tenant: "demo",
      generation: 3,
      image: "ghcr.io/acme/resize:1",
      command: ["resize", "--fast"],
      env: { A: "1" },
      scale: { min: 0, max: 2, target: 5, metric: "queue", idleAfter: "1m" },
      invocation: { mode: "http", timeout: "10s", maxConcurrency: 5 },
      labels: { team: "media" },
      resources: { limits: { memory: "128Mi" } },
      http: { auth: "public" },
      triggers: [{ type: "cron", schedule: "@every 1m", timezone: "UTC", missed: "skip" }],
      traffic: [{ revision: 2, percent: 90 }, { tag: "latest", percent: 10 }],
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
      status: { phase: "Ready", readyReplicas: 2, observedGeneration: 3 },
    };
    const { onSave, user } = setup(existing);
    expect(screen.getByLabelText("Name")).toBeDisabled();
    expect(screen.getByLabelText("Program")).toHaveValue("resize");
    expect(screen.getByLabelText("Min instances")).toHaveValue("0");
    await user.clear(screen.getByLabelText("Max instances"));
    await user.type(screen.getByLabelText("Max instances"), "4");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0]).toEqual({
      name: "resize",
      image: "ghcr.io/acme/resize:1",
      command: ["resize", "--fast"],
      env: { A: "1" },
      scale: { min: 0, max: 4, target: 5, metric: "queue", idleAfter: "1m" },
      invocation: { mode: "http", timeout: "10s", maxConcurrency: 5 },
      labels: { team: "media" },
      resources: { limits: { memory: "128Mi" } },
      http: { auth: "public" },
      triggers: [{ type: "cron", schedule: "@every 1m", timezone: "UTC", missed: "skip" }],
      traffic: [{ revision: 2, percent: 90 }, { tag: "latest", percent: 10 }],
    });
  });

  it("keeps an http function's gradual rollout when editing it, and drops it when the function becomes a job", async () => {
    const rollout = { stepPercent: 50, interval: "1s", maxErrorPercent: 5, minRequests: 10 };
    const existing: FunctionView = {
      name: "web",
      tenant: "demo",
      generation: 4,
      command: ["./web"],
      env: { V: "1" },
      invocation: { mode: "http", timeout: "30s" },
      rollout,
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
      status: {
        phase: "Ready",
        readyReplicas: 1,
        observedGeneration: 4,
        rollout: { revision: 4, from: 3, percent: 50, phase: "progressing", updatedAt: "2026-01-01T00:00:00Z" },
      },
    };
    const { onSave, user } = setup(existing);
    await user.clear(screen.getByLabelText("Value of variable 1"));
    await user.type(screen.getByLabelText("Value of variable 1"), "2");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0]).toMatchObject({ env: { V: "2" }, rollout });

    await user.selectOptions(screen.getByLabelText("Mode"), "job");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledTimes(2));
    expect(onSave.mock.calls[1]?.[0]).not.toHaveProperty("rollout");
  });

  it("names secrets as chips: suggested from the tenant's, added with Enter or the button, removed, and sent as spec.secrets", async () => {
    const onSave = vi.fn<(s: SpecInput) => Promise<unknown>>(async () => undefined);
    render(<FunctionForm onSave={onSave} secretNames={["api-key", "db-url"]} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "shout");
    await user.type(screen.getByLabelText("Command line"), "cat");
    const add = screen.getByLabelText("Add a secret");
    // The suggestions are the tenant's secrets not yet chosen.
    const suggestions = () => Array.from(document.getElementById(add.getAttribute("list") ?? "")?.querySelectorAll("option") ?? []).map((o) => o.value);
    expect(suggestions()).toEqual(["api-key", "db-url"]);
    await user.type(add, "api-key{Enter}");
    expect(suggestions()).toEqual(["db-url"]);
    await user.type(add, "db-url");
    await user.click(screen.getByRole("button", { name: "Add secret" }));
    const chips = within(screen.getByRole("list", { name: "Secrets the function reads" })).getAllByRole("listitem");
    expect(chips.map((c) => c.textContent)).toEqual(["api-key", "db-url"]);
    // A name the tenant has no secret of is marked; a repeated or malformed one is refused beside the field.
    await user.type(add, "missing{Enter}");
    expect(screen.getByText("(no such secret)")).toBeInTheDocument();
    await user.type(add, "api-key{Enter}");
    expect(add).toHaveAccessibleDescription("api-key is already named");
    await user.clear(add);
    await user.type(add, "Bad_Name{Enter}");
    expect(add).toHaveAttribute("aria-invalid", "true");
    await user.clear(add);
    await user.click(screen.getByRole("button", { name: "Remove secret missing" }));
    expect(onSave).not.toHaveBeenCalled();
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0]).toEqual({ name: "shout", command: ["cat"], invocation: { mode: "job", timeout: "30s" }, secrets: ["api-key", "db-url"] });
  });

  it("edits a function's secrets and sends none once all are removed", async () => {
    const existing: FunctionView = {
      name: "shout",
      tenant: "demo",
      generation: 2,
      command: ["cat"],
      invocation: { mode: "job", timeout: "30s" },
      secrets: ["api-key"],
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
      status: { phase: "Ready", readyReplicas: 0, observedGeneration: 2 },
    };
    const { onSave, user } = setup(existing);
    expect(within(screen.getByRole("list", { name: "Secrets the function reads" })).getByRole("listitem")).toHaveTextContent("api-key");
    await user.click(screen.getByRole("button", { name: "Remove secret api-key" }));
    expect(screen.queryByRole("list", { name: "Secrets the function reads" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSave).toHaveBeenCalledOnce());
    expect(onSave.mock.calls[0]?.[0]).not.toHaveProperty("secrets");
  });

  it("puts the API's refusal of spec.secrets beside the secrets", async () => {
    const onSave = vi.fn<(s: SpecInput) => Promise<unknown>>(async () => {
      throw new ApiError(400, "validation_failed", 'secrets[0]: no secret named "nope"');
    });
    render(<FunctionForm onSave={onSave} secretNames={[]} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "shout");
    await user.type(screen.getByLabelText("Command line"), "cat");
    await user.type(screen.getByLabelText("Add a secret"), "nope{Enter}");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(screen.getByLabelText("Add a secret")).toHaveAccessibleDescription('secrets[0]: no secret named "nope"'));
  });
});
