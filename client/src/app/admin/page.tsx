"use client";

import { AdminView } from "@/components/admin/AdminView";

export default function AdminPage() {
  return <AdminView />;
}
