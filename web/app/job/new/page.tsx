import type { Metadata } from "next";
import { NewJob } from "../../../components/NewJob.tsx";

export const metadata: Metadata = { title: "New job · Tessellate" };

export default function NewJobPage() {
  return <NewJob />;
}
