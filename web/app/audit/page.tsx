import type { Metadata } from "next";
import { AuditView } from "../../components/AuditView.tsx";

export const metadata: Metadata = { title: "Audit · Tessellate" };

export default function AuditPage() {
  return <AuditView />;
}
