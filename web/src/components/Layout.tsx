import { useRef, type ReactNode } from "react";
import { Link, Outlet, useLocation, useNavigate } from "react-router";
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
  // The dashboard and every function's pages are the Functions section.
  const onSecrets = useLocation().pathname.startsWith("/secrets");
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
          <div className="flex items-center gap-6">
            <Link to="/" className="flex items-center gap-2 rounded font-semibold text-slate-100">
              <Zap aria-hidden className="size-5 text-sky-400" />
              EventFlow
            </Link>
            <nav aria-label="Sections">
              <ul className="flex items-center gap-1 text-sm">
                <li>
                  <NavItem to="/" active={!onSecrets}>
                    Functions
                  </NavItem>
                </li>
                <li>
                  <NavItem to="/secrets" active={onSecrets}>
                    Secrets
                  </NavItem>
                </li>
              </ul>
            </nav>
          </div>
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

function NavItem({ to, active, children }: { to: string; active: boolean; children: ReactNode }) {
  return (
    <Link
      to={to}
      aria-current={active ? "page" : undefined}
      className={`rounded-md px-2.5 py-1 font-medium ${active ? "bg-slate-800 text-slate-100" : "text-slate-400 hover:bg-slate-800/60 hover:text-slate-200"}`}
    >
      {children}
    </Link>
  );
}
