import type { Metadata } from "next";
import { JobSummary } from "../../../components/JobSummary.tsx";

export const metadata: Metadata = { title: "Job · Tessellate" };

export default async function JobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <JobSummary id={decodeURIComponent(id)} />;
}
