import { useState } from "react";
import { Copy } from "lucide-react";
import type { FunctionView } from "../../api/types";
import { Button, Card } from "../ui";

/** The gateway's origin: the console is served by the gateway it talks to (see api/client.ts). */
function origin(): string {
  return typeof window === "undefined" ? "" : window.location.origin;
}

const AUTH: Record<string, string> = {
  token: "token: callers send a bearer token of this tenant with scope functions:invoke",
  public: "public: anyone may call it, without a token",
};

/** An http-mode function's public route: its URL (copyable), the queued variant, and who may call it. */
export function RoutePanel({ fn }: { fn: FunctionView }) {
  const path = fn.status.url;
  const [copied, setCopied] = useState<string | undefined>();
  if (!path) return null;
  const url = origin() + path;
  const asyncUrl = origin() + path.replace(/^\/fn\//, "/async-fn/");
  const auth = fn.http?.auth ?? "token";
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(url);
      setCopied("Copied.");
    } catch {
      setCopied("Could not copy: select the URL instead.");
    }
  };
  return (
    <Card title="HTTP route">
      <dl className="space-y-2 text-sm">
        <div>
          <dt className="text-slate-400">URL</dt>
          <dd className="flex flex-wrap items-center gap-2">
            <code data-testid="route-url" className="font-mono text-xs break-all">
              {url}
            </code>
            <Button variant="ghost" onClick={() => void copy()} aria-label="Copy the route URL">
              <Copy aria-hidden className="size-4" /> Copy
            </Button>
            <span role="status" className="text-xs text-slate-400">
              {copied ?? ""}
            </span>
          </dd>
        </div>
        <div>
          <dt className="text-slate-400">Queued (answers 202 with the invocation)</dt>
          <dd>
            <code data-testid="route-async-url" className="font-mono text-xs break-all">
              {asyncUrl}
            </code>
          </dd>
        </div>
        <div>
          <dt className="text-slate-400">Auth</dt>
          <dd data-testid="route-auth">{AUTH[auth] ?? auth}</dd>
        </div>
      </dl>
    </Card>
  );
}
