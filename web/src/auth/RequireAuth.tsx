import { Navigate, Outlet, useLocation } from "react-router";
import { useToken } from "./useSession";

/** Sends a visitor without a token to the login page, remembering where they were going. */
export function RequireAuth() {
  const token = useToken();
  const location = useLocation();
  if (!token) return <Navigate to="/login" replace state={{ from: `${location.pathname}${location.search}` }} />;
  return <Outlet />;
}
