import { useRef } from "react";
import { Link, Outlet, useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { LogOut, Zap } from "lucide-react";
import { signOut } from "../auth/session";
import { tenantOf, useToken } from "../auth/useSession";
import { Button } from "./ui";
import { useFocusOnNavigate } from "../lib/useFocusOnNavigate";

export function Layout() {
  const token = useToken();
  const tenant = tenantOf(token);
  const qc = useQueryClient();
  const navigate = useNavigate();
  const main = useRef<HTMLElement>(null);
  useFocusOnNavigate(main);
  const logout = () => {
    signOut();
    qc.clear();
    void navigate("/login");
  };
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only rounded-md bg-sky-500 px-3 py-1.5 text-sm font-medium text-slate-950 focus:not-sr-only focus:absolute focus:left-4 focus:top-3 focus:z-50">
        Skip to content
      </a>
      <header className="border-b border-slate-800 bg-slate-950/90">
        <div className="mx-auto flex max-w-7xl items-center justify-between px-4 py-3">
          <Link to="/" className="flex items-center gap-2 rounded font-semibold text-slate-100">
            <Zap aria-hidden className="size-5 text-sky-400" />
            EventFlow
          </Link>
          <div className="flex items-center gap-3 text-sm text-slate-400">
            {tenant && (
              <span>
                tenant <span className="font-mono text-slate-200">{tenant}</span>
              </span>
            )}
            <Button variant="ghost" onClick={logout}>
              <LogOut aria-hidden className="size-4" /> Sign out
            </Button>
          </div>
        </div>
      </header>
      <main ref={main} id="main" tabIndex={-1} className="mx-auto max-w-7xl px-4 py-6 focus:outline-none">
        <Outlet />
      </main>
    </div>
  );
}
