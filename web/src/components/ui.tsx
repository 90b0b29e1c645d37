// Small shared building blocks, so every page gets the same look and the
// same accessible wiring.
import type { ComponentProps, ReactNode } from "react";
import { Link } from "react-router";
import { AlertTriangle, ArrowLeft } from "lucide-react";

type Variant = "primary" | "secondary" | "danger" | "ghost";

const VARIANTS: Record<Variant, string> = {
  primary: "bg-sky-500 text-slate-950 hover:bg-sky-400 disabled:bg-sky-900 disabled:text-slate-400",
  secondary: "bg-slate-800 text-slate-100 hover:bg-slate-700 border border-slate-700 disabled:opacity-50",
  danger: "bg-rose-600 text-white hover:bg-rose-500 disabled:opacity-50",
  ghost: "text-slate-300 hover:bg-slate-800 hover:text-white disabled:opacity-50",
};

const BUTTON = "inline-flex items-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium transition-colors";

export function Button({ variant = "secondary", className = "", ...rest }: ComponentProps<"button"> & { variant?: Variant }) {
  return (
    <button
      type="button"
      className={`${BUTTON} disabled:cursor-not-allowed aria-disabled:cursor-not-allowed aria-disabled:opacity-50 ${VARIANTS[variant]} ${className}`}
      {...rest}
    />
  );
}

/** A link (it navigates) that looks like a button. */
export function LinkButton({ variant = "secondary", className = "", ...rest }: ComponentProps<typeof Link> & { variant?: Variant }) {
  return <Link className={`${BUTTON} ${VARIANTS[variant]} ${className}`} {...rest} />;
}

/** The way back up, above a page's heading. */
export function BackLink({ to, label }: { to: string; label: string }) {
  return (
    <Link to={to} className="inline-flex items-center gap-1 rounded text-sm text-slate-400 hover:text-slate-200">
      <ArrowLeft aria-hidden className="size-4" /> {label}
    </Link>
  );
}

export const inputClass =
  "w-full rounded-md border border-slate-700 bg-slate-900 px-3 py-1.5 text-sm text-slate-100 placeholder:text-slate-500 aria-[invalid=true]:border-rose-500 disabled:cursor-not-allowed disabled:bg-slate-900/40 disabled:text-slate-400";

/** A label, the control, and a message tied to it by id (aria-describedby). */
export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string | undefined; hint?: ReactNode; children: ReactNode }) {
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium text-slate-200">
        {label}
      </label>
      {children}
      {error ? (
        <p id={`${id}-error`} className="text-sm text-rose-400">
          {error}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="text-xs text-slate-400">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** aria props for a control inside a Field. */
export function describedBy(id: string, error: string | undefined, hint: boolean): { "aria-invalid": boolean; "aria-describedby"?: string } {
  if (error) return { "aria-invalid": true, "aria-describedby": `${id}-error` };
  return hint ? { "aria-invalid": false, "aria-describedby": `${id}-hint` } : { "aria-invalid": false };
}

export function ErrorAlert({ title, message }: { title: string; message: string }) {
  return (
    <div role="alert" className="flex gap-2 rounded-md border border-rose-800 bg-rose-950/60 p-3 text-sm text-rose-200">
      <AlertTriangle aria-hidden className="mt-0.5 size-4 shrink-0" />
      <div>
        <p className="font-medium">{title}</p>
        <p className="break-words">{message}</p>
      </div>
    </div>
  );
}

export function Card({ title, actions, children, className = "" }: { title: string; actions?: ReactNode; children: ReactNode; className?: string }) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section aria-labelledby={id} className={`rounded-lg border border-slate-800 bg-slate-900/60 ${className}`}>
      <header className="flex items-center justify-between gap-2 border-b border-slate-800 px-4 py-2">
        <h2 id={id} className="text-sm font-semibold text-slate-200">
          {title}
        </h2>
        {actions && <div className="flex items-center gap-2">{actions}</div>}
      </header>
      <div className="p-4">{children}</div>
    </section>
  );
}

/**
 * A compact, scrolling table with a caption for screen readers and one
 * column header per entry of columns; children are the body's rows.
 */
export function ScrollTable({ caption, columns, children }: { caption: string; columns: ReactNode[]; children: ReactNode }) {
  return (
    <div className="max-h-96 overflow-auto">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead className="sticky top-0 bg-slate-900 text-xs uppercase tracking-wide text-slate-400">
          <tr>
            {columns.map((c, i) => (
              <th key={i} scope="col" className="px-2 py-1.5">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-800">{children}</tbody>
      </table>
    </div>
  );
}
