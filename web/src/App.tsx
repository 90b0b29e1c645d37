import { Navigate, Route, Routes } from "react-router";
import { RequireAuth } from "./auth/RequireAuth";
import { Layout } from "./components/Layout";
import { LoginPage } from "./pages/LoginPage";
import { DashboardPage } from "./pages/DashboardPage";
import { FunctionFormPage } from "./pages/FunctionFormPage";
import { FunctionDetailsPage } from "./pages/FunctionDetailsPage";
import { SecretsPage } from "./pages/SecretsPage";

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<RequireAuth />}>
        <Route element={<Layout />}>
          <Route index element={<DashboardPage />} />
          <Route path="functions/new" element={<FunctionFormPage />} />
          <Route path="functions/:name" element={<FunctionDetailsPage />} />
          <Route path="functions/:name/edit" element={<FunctionFormPage />} />
          <Route path="secrets" element={<SecretsPage />} />
        </Route>
      </Route>
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
