import type { Metadata } from "next";
import { ProviderLookup } from "../../components/ProviderLookup.tsx";

export const metadata: Metadata = { title: "Provider · Tessellate" };

export default function ProviderPage() {
  return <ProviderLookup />;
}
