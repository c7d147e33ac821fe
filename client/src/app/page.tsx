"use client";

import { Dashboard } from "@/components/dashboard/Dashboard";
import { useSession } from "@/stores/session";

export default function DashboardPage() {
  const account = useSession((s) => s.account);
  // The shell renders pages only once the session is known; without an account it is redirecting.
  if (!account) return null;
  return <Dashboard account={account} />;
}
