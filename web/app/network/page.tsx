import type { Metadata } from "next";
import { NetworkView } from "../../components/NetworkView.tsx";

export const metadata: Metadata = { title: "Network · Tessellate" };

export default function NetworkPage() {
  return <NetworkView />;
}
