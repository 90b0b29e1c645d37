import { Rocket } from "lucide-react";
import { LinkButton } from "./ui";

/** What a new tenant sees: what a function is and how to make one. */
export function EmptyState() {
  return (
    <section aria-labelledby="empty-title" className="rounded-lg border border-dashed border-slate-700 p-8 text-center">
      <Rocket aria-hidden className="mx-auto size-8 text-sky-400" />
      <h2 id="empty-title" className="mt-3 text-lg font-semibold">
        No functions yet
      </h2>
      <p className="mx-auto mt-2 max-w-lg text-sm text-slate-400">
        A function is a command (or a container image) that EventFlow runs for you. In job mode each invocation runs it once, with the request body on
        stdin and stdout as the answer; try the command <code className="font-mono text-slate-200">tr a-z A-Z</code>.
      </p>
      <LinkButton to="/functions/new" variant="primary" className="mt-4">
        Create your first function
      </LinkButton>
    </section>
  );
}
